"""Conventions every generator shares: seeds → z, output → uint8 pixels, the default ψ.
(`GeneratorBase.sample` in base.py puts them together.)"""

from __future__ import annotations

from collections.abc import Sequence

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
