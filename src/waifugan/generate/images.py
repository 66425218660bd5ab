"""Seeds to latents, generator output to pixels, and image grids."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from waifugan.errors import WaifuganError

_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_seeds(text: str) -> list[int]:
    """Parse "0-15,42" into [0, 1, ..., 15, 42]; ranges are inclusive."""
    seeds: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        match = _RANGE.match(part)
        if match:
            lo, hi = int(match[1]), int(match[2])
            if hi < lo:
                raise WaifuganError(f"seed range {part!r} ends before it starts")
            seeds.extend(range(lo, hi + 1))
        elif part.isdigit():
            seeds.append(int(part))
        else:
            raise WaifuganError(f"seed {part!r} is not a non-negative integer or a range like 0-15")
    if not seeds:
        raise WaifuganError(f"no seeds in {text!r}")
    for seed in seeds:
        if seed >= 2**32:
            raise WaifuganError(f"seed {seed} is too large (seeds are 0 ... 2**32 - 1)")
    return seeds


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


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile [N, H, W, 3] uint8 images into one [rows*H, cols*W, 3] image (white padding)."""
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * (h + pad) : r * (h + pad) + h, col * (w + pad) : col * (w + pad) + w] = image
    return grid


def save_image(array: np.ndarray, path: str | Path) -> Path:
    """Write an [H, W, 3] uint8 array as PNG (or by the suffix's format)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@dataclass(frozen=True)
class GenerateOptions:
    """What `waifugan generate` draws and where it writes."""

    model: str
    seeds: tuple[int, ...]
    psi: float = 0.7
    truncation_cutoff: int | None = None
    noise_mode: str = "const"
    outdir: str = "out"
    grid_cols: int | None = None  # also write grid.png with this many columns
    singles: bool = True  # write seedNNNN.png per seed
    batch: int = 16
    device: str = "auto"


def generate_images(opts: GenerateOptions) -> list[Path]:
    """Draw opts.seeds with the truncation trick; write seedNNNN.png files and/or grid.png."""
    import waifugan
    from waifugan.devices import resolve_device

    G = waifugan.load(opts.model, device=resolve_device(opts.device))
    images = G.sample(
        list(opts.seeds), opts.psi, opts.truncation_cutoff, opts.noise_mode, opts.batch
    )
    outdir = Path(opts.outdir)
    written = []
    if opts.singles:
        for seed, image in zip(opts.seeds, images, strict=True):
            written.append(save_image(image, outdir / f"seed{seed:04d}.png"))
    if opts.grid_cols:
        written.append(save_image(make_grid(images, opts.grid_cols), outdir / "grid.png"))
    return written
