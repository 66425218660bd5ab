"""Endless, resumable, rank-aware sampling order over a dataset."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch.utils.data


class InfiniteSampler(torch.utils.data.Sampler[int]):
    """Yields dataset indices forever: epoch e is permutation RandomState(seed + e).

    Global position g maps to one index, so the order is a pure function of (seed, g):
    a run resumed at `start` images continues exactly where it stopped. Rank r of W takes
    positions r, r + W, r + 2W, ...
    """

    def __init__(
        self, size: int, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0
    ) -> None:
        self.size = size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start  # global position (images consumed by all ranks together)

    def __iter__(self) -> Iterator[int]:
        position = self.start + self.rank
        epoch, perm = -1, np.arange(0)
        while True:
            if position // self.size != epoch:
                epoch = position // self.size
                perm = np.random.RandomState((self.seed + epoch) % 2**32).permutation(self.size)
            yield int(perm[position % self.size])
            position += self.world_size
