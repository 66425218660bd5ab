"""`waifugan generate`: parse seeds, draw faces, write PNGs and grids."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from waifugan.errors import WaifuganError
from waifugan.networks.sampling import DEFAULT_PSI
from waifugan.pixels import make_grid, save_image

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


@dataclass(frozen=True)
class GenerateOptions:
    """What `waifugan generate` draws and where it writes."""

    model: str
    seeds: tuple[int, ...]
    psi: float = DEFAULT_PSI
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
