"""The real images a run trains on: an endless, resumable, rank-aware stream of batches."""

from __future__ import annotations

import atexit
import signal
import weakref
from collections.abc import Generator

import torch

from waifugan.data.dataset import ImageDataset
from waifugan.data.sampler import InfiniteSampler
from waifugan.train.distributed import DistInfo
from waifugan.train.options import TrainOptions


def real_batches(
    dataset: ImageDataset,
    opts: TrainOptions,
    dist: DistInfo,
    start_nimg: int,
    device: torch.device,
) -> Generator[torch.Tensor, None, None]:  # [batch / world_size, 3, H, W] float32 in [-1, 1]
    """This rank's share of every batch, continuing the sampling order at `start_nimg`.
    Close it when done; one left open is closed at interpreter exit."""
    stream = _batches(dataset, opts, dist, start_nimg, device)
    _OPEN_STREAMS.add(stream)
    return stream


def _batches(
    dataset: ImageDataset,
    opts: TrainOptions,
    dist: DistInfo,
    start_nimg: int,
    device: torch.device,
) -> Generator[torch.Tensor, None, None]:
    sampler = InfiniteSampler(
        len(dataset), opts.seed, dist.rank, dist.world_size, start_nimg, batch=opts.batch
    )
    loader = torch.utils.data.DataLoader(
        dataset,
        sampler=sampler,
        batch_size=opts.batch // dist.world_size,
        num_workers=opts.workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=_leave_stop_signals_to_the_main_process,
        prefetch_factor=2 if opts.workers > 0 else None,
        # A private generator: creating the iterator must not consume the training RNG,
        # or a resumed run would diverge from an uninterrupted one.
        generator=torch.Generator().manual_seed(opts.seed),
    )
    # The iterator is ours alone (no persistent_workers: the sampler never ends anyway), so
    # closing this generator shuts the workers down cleanly, after the final checkpoint.
    for batch in loader:
        yield batch.to(device, non_blocking=True).float() / 127.5 - 1


# Workers ignore SIGTERM (below), so multiprocessing's exit handler, which terminates daemonic
# children with SIGTERM and then joins them, would wait forever on a stream nobody closed
# (an exception between the first batch and run()'s `finally`). Closing it first lets the
# DataLoader tell its workers to finish. atexit runs handlers last-registered first, so this
# runs before multiprocessing's handler and before torch marks the interpreter as exiting.
_OPEN_STREAMS: weakref.WeakSet[Generator[torch.Tensor, None, None]] = weakref.WeakSet()


@atexit.register
def _close_open_streams() -> None:
    for stream in list(_OPEN_STREAMS):
        stream.close()


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    # `timeout`, Slurm and systemd signal the whole process group. A worker killed by SIGTERM
    # makes the main process raise mid-step and lose the work since the last snapshot; instead
    # the main process finishes its step, checkpoints and closes the stream (see run()).
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
