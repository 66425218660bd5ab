"""Conventions every generator shares: seeds → z, output → uint8 pixels, the default ψ."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
import torch

# Truncation ψ used wherever the user does not choose one: 0.7, as in the StyleGAN2 paper's
# curated figures and NVlabs' generate.py examples (ψ = 1 is the untruncated distribution).
DEFAULT_PSI = 0.7


def seeds_to_z(seeds: Sequence[int], z_dim: int) -> torch.Tensor:
    """Latents for seeds, [N, z_dim] float32: RandomState(seed).randn(z_dim) as in the NVlabs tools.

    Using the TF/NVlabs convention means a seed names the same face across tools.
    """
    z = np.stack([np.random.RandomState(seed).randn(z_dim) for seed in seeds])
    return torch.from_numpy(z.astype(np.float32))


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] float in [-1, 1] → [N, H, W, 3] uint8, rounded exactly as saved PNGs are."""
    img = (img.detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return img.permute(0, 2, 3, 1).cpu().numpy()


class Samplable(Protocol):
    """What `sample_images` needs of a generator."""

    z_dim: int
    img_resolution: int

    @property
    def device(self) -> torch.device: ...

    def __call__(
        self, z: torch.Tensor, psi: float, truncation_cutoff: int | None, noise_mode: str
    ) -> torch.Tensor: ...


@torch.no_grad()
def sample_images(
    G: Samplable,
    seeds: Sequence[int],
    psi: float = DEFAULT_PSI,
    truncation_cutoff: int | None = None,
    noise_mode: str = "const",
    batch_size: int = 16,
) -> np.ndarray:  # [N, H, W, 3] uint8
    """Faces for seeds with the truncation trick, as the pixels a saved PNG holds."""
    out = []
    for i in range(0, len(seeds), batch_size):
        z = seeds_to_z(seeds[i : i + batch_size], G.z_dim).to(G.device)
        out.append(to_uint8(G(z, psi, truncation_cutoff, noise_mode)))
    if not out:
        return np.zeros((0, G.img_resolution, G.img_resolution, 3), np.uint8)
    return np.concatenate(out)
