"""What every generator architecture shares: `G(z, psi)`, `G.sample(seeds)`, `G.device` and
saving to / loading from a model file (diffusers' `save_pretrained` / `from_pretrained`).

A subclass builds `cfg`, `z_dim`, `w_dim`, `img_resolution`, `num_ws`, `mapping` (z → ws with
the truncation trick and a `w_avg` buffer) and `synthesis` (ws → img), and names its
`architecture` for networks/model_file.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from waifugan.errors import WaifuganError
from waifugan.networks.sampling import DEFAULT_PSI, sample_images


class GeneratorBase(nn.Module):
    """The interface of every generator; subclasses only build their networks."""

    architecture = ""  # the name model files record; set by each subclass
    cfg: Any  # constructor arguments, with `to_dict()`
    z_dim: int
    w_dim: int
    img_resolution: int
    num_ws: int
    mapping: Any  # z [N, z_dim] → ws [N, num_ws, w_dim]
    synthesis: Any  # ws → img [N, 3, H, W]

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        psi: float = 1.0,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
    ) -> torch.Tensor:  # [N, 3, H, W] float32, about [-1, 1]
        ws = self.mapping(z, psi=psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode)

    @property
    def device(self) -> torch.device:
        """Device of the weights."""
        return self.mapping.w_avg.device

    def sample(
        self,
        seeds: Sequence[int],
        psi: float = DEFAULT_PSI,
        truncation_cutoff: int | None = None,
        noise_mode: str = "const",
        batch_size: int = 16,
    ) -> np.ndarray:  # [N, H, W, 3] uint8
        """Faces for seeds with the truncation trick, as the pixels a saved PNG holds."""
        return sample_images(self, seeds, psi, truncation_cutoff, noise_mode, batch_size)

    def save_pretrained(
        self, path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None
    ) -> Path:
        """Write this generator as one .safetensors model file (weights + config)."""
        from waifugan.networks.model_file import save_model  # it imports the subclasses

        return save_model(self, path, extra)

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike[str]) -> Self:
        """The generator a .safetensors model file holds (eval mode, CPU)."""
        from waifugan.networks.model_file import load_model  # it imports the subclasses

        G = load_model(path)
        if not isinstance(G, cls):
            raise WaifuganError(f"{path}: holds a {type(G).__name__}, not a {cls.__name__}")
        return G.eval()
