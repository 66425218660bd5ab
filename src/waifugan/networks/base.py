"""What every generator architecture shares: `G(z, psi)`, `G.sample(seeds)`, `G.device`,
saving to / loading from a model file (diffusers' `save_pretrained` / `from_pretrained`), and
the resolution pyramid of its config.

A subclass builds `cfg`, `z_dim`, `w_dim`, `img_resolution`, `num_ws`, `mapping` (z → ws with
the truncation trick and a `w_avg` buffer) and `synthesis` (ws → img), and names its
`architecture` for networks/model_file.py.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from waifugan.errors import WaifuganError
from waifugan.networks.sampling import DEFAULT_PSI, seeds_to_z, to_uint8
from waifugan.pixels import is_valid_resolution


class PyramidConfig:
    """Methods of a generator config (a frozen dataclass) whose synthesis has one block per
    resolution 4, 8, ..., img_resolution with min(channel_base / r, channel_max) channels."""

    img_resolution: int
    channel_base: int
    channel_max: int

    def to_dict(self) -> dict[str, object]:
        """Plain-data form for JSON/safetensors metadata."""
        return asdict(self)  # type: ignore[call-overload]

    def channels(self, res: int) -> int:
        """Feature maps at a resolution."""
        return min(self.channel_base // res, self.channel_max)

    @property
    def block_resolutions(self) -> list[int]:
        """4, 8, ..., img_resolution."""
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    def check_resolution(self) -> None:
        """Refuse an img_resolution that is not a power of two ≥ 8 (ValueError)."""
        r = self.img_resolution
        if not is_valid_resolution(r, minimum=8):
            raise ValueError(f"img_resolution must be a power of two ≥ 8, got {r}")


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

    def __init__(self, cfg: Any) -> None:
        """Keep the config and the sizes it names; the subclass then builds its networks."""
        super().__init__()
        self.cfg = cfg
        self.z_dim = cfg.z_dim
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution

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
        out = []
        with torch.no_grad():
            for i in range(0, len(seeds), batch_size):
                z = seeds_to_z(seeds[i : i + batch_size], self.z_dim).to(self.device)
                out.append(to_uint8(self(z, psi, truncation_cutoff, noise_mode)))
        if not out:
            return np.zeros((0, self.img_resolution, self.img_resolution, 3), np.uint8)
        return np.concatenate(out)

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
