"""The distributor: runs the per-image worker (process.py) over a process pool.

Inputs go out in batches to `workers` processes with a bounded number of batches in flight;
results come back strictly in input order, whatever the scheduling, so the writer's decisions
(and the dataset) never depend on which process finished first.
"""

from __future__ import annotations

import itertools
import multiprocessing
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor

from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.process import ItemResult, TorchNotAllowedError, Worker
from waifugan.prepare.sources import Item, Reject

INFLIGHT_BATCHES_PER_WORKER = 4  # enough to hide scheduling gaps, small enough for memory
STARTUP_BATCHES_MAX = 32  # batches the parent may run itself while the workers start

_WORKER: Worker | None = None


def _init_worker(cfg: PrepareConfig) -> None:
    global _WORKER
    import cv2

    cv2.setNumThreads(1)  # one image per core: no oversubscription
    _WORKER = Worker(cfg, torch_threads=1)


def _run_batch(batch: list[Item | Reject]) -> list[ItemResult]:
    assert _WORKER is not None
    return [_run_one(_WORKER, entry) for entry in batch]


def _run_one(worker: Worker, entry: Item | Reject) -> ItemResult:
    if isinstance(entry, Reject):
        return ItemResult(key=entry.key, rejects=[{"stage": entry.stage, "reason": entry.reason}])
    return worker.process(entry)


def _start(
    pool: ProcessPoolExecutor, batches: Iterator[list[Item | Reject]], limit: int, helper: Worker
) -> deque[Future[list[ItemResult]]]:
    """Submit the first batches, and while the pool's processes start (~0.4 s: the fork
    server imports NumPy, OpenCV and Pillow first) run the following ones here, until one
    needs waifu2x (importing torch here would take longer than the wait)."""
    head = list(itertools.islice(batches, limit))
    with ThreadPoolExecutor(1) as starter:  # submit blocks until the fork server is up
        submitted = starter.submit(lambda: [pool.submit(_run_batch, batch) for batch in head])
        local: list[Future[list[ItemResult]]] = []
        while not submitted.done() and len(local) < STARTUP_BATCHES_MAX:
            batch = next(batches, None)
            if batch is None:
                break
            try:
                local.append(_finished([_run_one(helper, entry) for entry in batch]))
            except TorchNotAllowedError:
                local.append(pool.submit(_run_batch, batch))
                break
        return deque(submitted.result() + local)


def _finished(results: list[ItemResult]) -> Future[list[ItemResult]]:
    future: Future[list[ItemResult]] = Future()
    future.set_result(results)
    return future


def _worker_context() -> multiprocessing.context.BaseContext:
    """forkserver (spawn where unavailable), never plain fork: a child forked from a parent
    that ran OpenCV inherits its thread pool state and can deadlock (seen in the tests).
    The fork server is a fresh interpreter that imports the worker modules once, so each
    worker then starts in milliseconds instead of re-importing NumPy/OpenCV/SciPy."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["waifugan.prepare.distributor"])
    return context


def run_ordered(entries: Iterator[Item | Reject], cfg: PrepareConfig) -> Iterator[ItemResult]:
    """Process entries on cfg.workers processes; results come back in input order, with a
    bounded number of batches in flight (bounded memory for any input size)."""
    batch_size = 1 if cfg.detect else 32  # face detection makes one image a batch's worth
    if cfg.workers == 1:
        worker = Worker(cfg)
        for entry in entries:
            yield _run_one(worker, entry)
        return
    context = _worker_context()
    pool = ProcessPoolExecutor(cfg.workers, context, _init_worker, (cfg,))
    limit = cfg.workers * INFLIGHT_BATCHES_PER_WORKER
    batches = iter(lambda: list(itertools.islice(entries, batch_size)), [])
    try:
        pending = _start(pool, batches, limit, Worker(cfg, load_torch=False))
        for batch in batches:
            pending.append(pool.submit(_run_batch, batch))
            while len(pending) >= limit:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
