"""Endless, resumable, rank-aware sampling order over a dataset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.utils.data


class InfiniteSampler(torch.utils.data.Sampler[int]):
    """Yields dataset indices forever: epoch e is permutation RandomState(seed + e).

    Global position g maps to one index, so the order is a pure function of (seed, g):
    a run resumed at `start` images continues exactly where it stopped. Every global batch
    covers `batch` consecutive positions; rank r of W takes its r-th block of batch / W of them
    (batch defaults to W: positions r, r + W, r + 2W, ...). So the ranks' shards of every epoch
    are disjoint and together are the epoch, and the global order is the same for any W.
    """

    def __init__(
        self,
        size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
        batch: int | None = None,
    ) -> None:
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start  # global position (images consumed by all ranks together)
        self.batch = world_size if batch is None else batch
        if self.batch % world_size:
            raise ValueError(f"batch {self.batch} is not divisible by {world_size} ranks")

    def __iter__(self) -> Iterator[int]:
        share = self.batch // self.world_size
        batch_start = self.start
        epoch, perm = -1, np.arange(0)
        while True:
            for j in range(share):
                position = batch_start + self.rank * share + j
                if position // self.size != epoch:
                    epoch = position // self.size
                    perm = np.random.RandomState((self.seed + epoch) % 2**32).permutation(self.size)
                yield int(perm[position % self.size])
            batch_start += self.batch
