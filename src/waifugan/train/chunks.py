"""How a step's global batch is cut into chunks, and where each chunk's random numbers come from.

The global batch (--batch) is split over the processes, and each process's share into rounds
of --batch-gpu images whose gradients accumulate (NVlabs' batch_gpu). Chunk c of a step is
round c % rounds of rank c // rounds; it reads the c-th block of the step's images (see
data/sampler.py) and draws its latents, noise, mixing and augmentation from a seed derived from
(run seed, step, phase, c). So a step depends only on the global batch and --batch-gpu, not on
how many processes run it, and a resumed run (on any number of processes) draws exactly the
numbers an uninterrupted one would: there is no random state to save per rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from waifugan.errors import WaifuganError

PHASES = ("g_main", "g_reg", "d_main", "d_reg")  # the order a step runs them in


@dataclass(frozen=True)
class BatchSplit:
    """The chunks of every step as this rank sees them."""

    batch_gpu: int  # images per chunk
    rounds: int  # chunks per rank per step (gradient accumulation)
    rank: int
    world_size: int

    @property
    def total(self) -> int:
        """Chunks per step over all ranks."""
        return self.rounds * self.world_size

    @property
    def loss_scale(self) -> float:
        """Each chunk's loss weight: summed over ranks and rounds, the gradients are the mean
        over the global batch."""
        return 1.0 / self.total

    def chunk_index(self, round_idx: int) -> int:
        """Global index of this rank's round `round_idx` within the step."""
        return self.rank * self.rounds + round_idx


def split_batch(batch: int, batch_gpu: int | None, rank: int, world_size: int) -> BatchSplit:
    """Chunks for a global batch on world_size ranks; batch_gpu None = one round per rank."""
    if batch % world_size:
        raise WaifuganError(f"--batch {batch} is not divisible by {world_size} processes")
    share = batch // world_size
    batch_gpu = share if batch_gpu is None else min(batch_gpu, share)
    if share % batch_gpu:
        raise WaifuganError(
            f"--batch-gpu {batch_gpu} does not divide the {share} images each of {world_size} "
            f"process(es) handles per step (--batch {batch})"
        )
    return BatchSplit(batch_gpu, share // batch_gpu, rank, world_size)


def chunk_seed(seed: int, batch_idx: int, phase: str, chunk: int) -> int:
    """A 64-bit seed, a pure function of (run seed, step, phase, global chunk index)."""
    entropy = [seed % 2**32, batch_idx, PHASES.index(phase), chunk]
    words = np.random.SeedSequence(entropy).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 32) | int(words[1])


def seed_chunk(seed: int, batch_idx: int, phase: str, chunk: int) -> None:
    """Seed torch's generators (CPU and CUDA) for one chunk of one phase."""
    torch.manual_seed(chunk_seed(seed, batch_idx, phase, chunk))
