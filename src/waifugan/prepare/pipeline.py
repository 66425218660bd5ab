"""`prepare(cfg)`: the whole stage chain, parallel over inputs, streaming and resumable.

Workers run the per-image stages (process.py) on batches of inputs; the parent consumes the
results strictly in input order, decides duplicates, appends images and a journal line, so a
rerun or a resumed run gives a byte-identical dataset whatever the scheduling.
"""

from __future__ import annotations

import base64
import itertools
import multiprocessing
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from waifugan.assets import asset_path
from waifugan.errors import WaifuganError
from waifugan.prepare.config import WAIFU2X_WEIGHTS_ASSET, PrepareConfig
from waifugan.prepare.dedup import THUMB_BYTES, NearDuplicateIndex
from waifugan.prepare.metadata import Selection, iter_selected_items
from waifugan.prepare.pack import DatasetWriter, WorkDir, sample_name
from waifugan.prepare.process import ItemResult, TorchNotAllowedError, Worker
from waifugan.prepare.report import Report, write_report
from waifugan.prepare.sources import Item, Reject, check_sources, iter_sources

INFLIGHT_BATCHES_PER_WORKER = 4  # enough to hide scheduling gaps, small enough for memory
STARTUP_BATCHES_MAX = 32  # batches the parent may run itself while the workers start
MAX_REJECT_THUMBS = 64  # thumbnails kept for the rejects contact sheet


@dataclass
class PrepareResult:
    """What `prepare` made: the dataset, its report and the counts."""

    output: Path
    report_dir: Path
    images: int
    report: Report = field(repr=False)


def iter_entries(cfg: PrepareConfig) -> Iterator[Item | Reject]:
    """Inputs in their stable order (sources or Danbooru selection), at most --limit images."""
    if cfg.metadata:
        sel = Selection(
            frozenset(cfg.tags), frozenset(cfg.exclude_tags), frozenset(cfg.ratings), cfg.min_score
        )
        stream: Iterator[Item | Reject] = iter_selected_items(cfg.sources, cfg.metadata, sel)
    else:
        stream = iter_sources(cfg.sources)
    images = 0
    for entry in stream:
        if isinstance(entry, Item):
            if cfg.limit is not None and images >= cfg.limit:
                return
            images += 1
        yield entry


# ---- worker side -------------------------------------------------------------------------

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
    context.set_forkserver_preload(["waifugan.prepare.pipeline"])
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


# ---- parent side: decisions and writing --------------------------------------------------


class Writer:
    """Decides exact/near duplicates in input order and journals every input."""

    def __init__(
        self, cfg: PrepareConfig, work: WorkDir, report: Report, dataset: DatasetWriter
    ) -> None:
        self.cfg = cfg
        self.work = work
        self.report = report
        self.dataset = dataset
        self.ext = "png" if cfg.format == "png" else "jpg"
        self.index = NearDuplicateIndex(cfg.dedup_distance, cfg.dedup_diff_max)
        self.by_pixels: dict[str, str] = {}  # pixel sha256 → "name (source)" kept
        self.kept: list[str] = []  # index position → "name (source)"
        self.next_index = 0
        self.done: set[str] = set()

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Rebuild the dedup state and counts from an interrupted run's journal."""
        kept = [
            (record["key"], sample)
            for record in records
            for sample in record["samples"]
            if sample.get("augment") is None
        ]
        thumbs = self.work.read_thumbs(len(kept), THUMB_BYTES)
        for (key, sample), thumbnail in zip(kept, thumbs, strict=True):
            value = int(sample["phash"], 16)
            self._keep(sample["pixel_sha256"], value, thumbnail, sample["name"], key)
        for record in records:
            self.done.add(record["key"])
            self.next_index += len(record["samples"])
            self.report.add_record(record)

    def _keep(self, pixel_sha: str, value: int, thumbnail: bytes, name: str, source: str) -> None:
        self.by_pixels[pixel_sha] = f"{name} ({source})"
        self.index.add(value, thumbnail)
        self.kept.append(f"{name} ({source})")

    def _duplicate_of(self, pixel_sha: str, value: int, thumbnail: bytes) -> str | None:
        if not self.cfg.dedup:
            return None
        if pixel_sha in self.by_pixels:
            return f"exact duplicate of {self.by_pixels[pixel_sha]}"
        hit = self.index.match(value, thumbnail)
        if hit is not None:
            return f"near duplicate of {self.kept[hit[0]]}, pHash distance {hit[1]}"
        return None

    def add(self, result: ItemResult, meta: dict[str, Any] | None) -> dict[str, Any]:
        """Decide, append images and journal one input; returns its record."""
        started = time.perf_counter()
        record: dict[str, Any] = {
            "key": result.key,
            "file_sha256": result.file_sha256,
            "info": result.info,
            "meta": meta,
            "samples": [],
            "rejects": [],
            "counts": result.counts,
            "seconds": result.seconds,  # rounded by the worker
        }
        for sample in result.samples:
            duplicate = self._duplicate_of(sample.pixel_sha256, sample.phash, sample.thumb)
            if duplicate is not None:
                record["rejects"].append(
                    {"stage": "dedup", "reason": duplicate, "face": sample.face}
                )
                continue
            name = self._name()
            self._keep(sample.pixel_sha256, sample.phash, sample.thumb, name, result.key)
            self.work.append_thumb(sample.thumb)
            base = {
                "face": sample.face,
                "box": sample.box,
                "crop": sample.crop,
                "stats": sample.stats,
                "upscale": self._upscale_label(sample.upscale_doublings),
                "phash": f"{sample.phash:016x}",
                "pixel_sha256": sample.pixel_sha256,
            }
            self._output(record, name, sample.data, base, augment=None)
            for data, params in sample.copies:
                extra = dict(base, augment_of=name, phash=None)  # hashes describe the original
                self._output(record, self._name(), data, extra, augment=params)
        for reject in result.rejects:
            reject = dict(reject)
            thumb = reject.pop("thumb", None)
            if thumb is not None and self.report.thumbs_kept < MAX_REJECT_THUMBS:
                reject["thumb"] = base64.b64encode(thumb).decode()
            record["rejects"].append(reject)
        record["seconds"]["dedup+write"] = round(time.perf_counter() - started, 6)
        self.work.append_record(record)
        self.report.add_record(record)
        return record

    def _name(self) -> str:
        name = sample_name(self.next_index, self.ext)
        self.next_index += 1
        return name

    def _output(
        self, record: dict[str, Any], name: str, data: bytes, base: dict[str, Any], augment: Any
    ) -> None:
        """Append an image to the journal's blob and to the dataset being assembled."""
        offset = self.work.append_blob(data)
        sample = dict(base, name=name, offset=offset, size=len(data), augment=augment)
        record["samples"].append(sample)
        self.dataset.add(record, sample, data)

    def _upscale_label(self, doublings: int) -> str:
        if doublings:
            return f"waifu2x x{2**doublings}"
        return self.cfg.upscale if self.cfg.upscale == "lanczos" else "none"


def _count_entries(cfg: PrepareConfig) -> int:
    """A cheap first pass over names only, so the progress bar can show an ETA."""
    return sum(1 for _ in iter_entries(cfg))


def _preflight(cfg: PrepareConfig) -> None:
    """Fail before any work when assets or sources are missing."""
    check_sources(cfg.sources)
    for name in cfg.metadata:
        if not Path(name).is_file():
            raise WaifuganError(f"--metadata {name}: no such file")
    worker = Worker(cfg)
    if cfg.detect:
        _ = worker.detector
    if cfg.upscale == "waifu2x":  # the weights' checksum, without importing torch here
        asset_path(WAIFU2X_WEIGHTS_ASSET[cfg.waifu2x_model], cfg.waifu2x_weights)


def report_dir_for(cfg: PrepareConfig) -> Path:
    """Where report.json and the contact sheets go (next to the dataset, never inside)."""
    if cfg.report_dir:
        return Path(cfg.report_dir)
    output = Path(cfg.output)
    stem = output.name[: -len(".zip")] if output.name.endswith(".zip") else output.name
    return output.with_name(stem + "-report")


def _process_all(cfg: PrepareConfig, work: WorkDir, writer: Writer, report: Report) -> None:
    """Run every not-yet-journaled input through the workers and the writer, with a bar."""
    total = _count_entries(cfg) if cfg.progress else None
    todo = (e for e in iter_entries(cfg) if e.key not in writer.done)
    metas = {}  # key → Danbooru fields of entries in flight (results carry only the key)

    def tracked() -> Iterator[Item | Reject]:
        for entry in todo:
            if isinstance(entry, Item) and entry.meta is not None:
                metas[entry.key] = entry.meta
            yield entry

    bar = tqdm(total=total, initial=len(writer.done), unit="img", desc="prepare",
               disable=not cfg.progress, smoothing=0.1)  # fmt: skip
    work.open()
    try:
        with bar:
            for result in run_ordered(tracked(), cfg):
                writer.add(result, metas.pop(result.key, None))
                bar.update(1)
                if cfg.progress and bar.n % 64 == 0:  # the postfix costs more than the bar
                    bar.set_postfix(written=writer.next_index, rejected=report.rejected)
    finally:
        work.close()


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Raw illustrations → training dataset (zip or folder) + report; resumable."""
    started = time.perf_counter()
    output = Path(cfg.output)
    if output.exists() and not cfg.overwrite:
        raise WaifuganError(f"{output}: already exists; pass --overwrite or choose another path")
    _preflight(cfg)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = WorkDir(output, cfg.fingerprint(), discard_other=cfg.overwrite)
    report = Report(cfg)
    dataset = DatasetWriter(work, as_zip=output.suffix.lower() == ".zip")
    writer = Writer(cfg, work, report, dataset)
    try:
        writer.restore(work.recover())
        dataset.rebuild(writer.next_index, cfg.progress)
        _process_all(cfg, work, writer, report)
    except BaseException:
        dataset.abort()
        raise
    report.seconds_wall = time.perf_counter() - started
    report_dir = report_dir_for(cfg)
    if writer.next_index == 0:
        dataset.abort()
        write_report(report, work, report_dir, None)
        work.remove()
        raise WaifuganError(
            f"nothing usable came out of {report.inputs} inputs ({report.rejected} rejected); "
            f"see {report_dir / 'summary.txt'} for every reason"
        )
    pack_started = time.perf_counter()
    images = dataset.finish(output, cfg.overwrite)
    report.stage_seconds["pack"] = time.perf_counter() - pack_started
    report.seconds_wall = time.perf_counter() - started
    write_report(report, work, report_dir, output)
    work.remove()
    return PrepareResult(output=output, report_dir=report_dir, images=images, report=report)
