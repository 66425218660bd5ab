"""Style mixing grids: each row's face with some layers' styles taken from each column's face.

The synthesis network reads one w per layer (`ws[:, i]`). Index i is first used at
resolution 2 ** (i // 2 + 2) px: ws 0-1 at 4 px, 2-3 at 8 px, 4-5 at 16 px, and so on (an odd
index also drives the ToRGB of the block below). The named ranges follow the StyleGAN paper:
coarse = 4-8 px (pose, face shape), middle = 16-32 px (features, hair style), fine = 64 px and
up (colours, micro-structure); a model smaller than 64 px has no fine layers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from waifugan.errors import WaifuganError
from waifugan.networks.generator import Generator
from waifugan.networks.sampling import DEFAULT_PSI, seeds_to_z, to_uint8
from waifugan.pixels import save_image

# name → (lowest, highest) resolution in px whose layers it covers; None = up to the top
STYLE_RANGES: dict[str, tuple[int, int | None]] = {
    "coarse": (4, 8),
    "middle": (16, 32),
    "fine": (64, None),
}


def ws_resolution(index: int) -> int:
    """The resolution in px at which ws[:, index] first modulates a convolution."""
    return 2 ** (index // 2 + 2)


def style_layers(spec: str, num_ws: int) -> list[int]:
    """ws indices for "coarse", "middle", "fine", or explicit indices like "0-3" / "0,2,5-7"."""
    spec = spec.strip().lower()
    if spec in STYLE_RANGES:
        low, high = STYLE_RANGES[spec]
        layers = [
            i
            for i in range(num_ws)
            if low <= ws_resolution(i) and (high is None or ws_resolution(i) <= high)
        ]
        if not layers:
            raise WaifuganError(
                f"--styles {spec}: this model ({num_ws} ws, up to {ws_resolution(num_ws - 1)} px) "
                f"has no layers at {low}{'+' if high is None else f'-{high}'} px"
            )
        return layers
    layers_set: set[int] = set()
    for part in spec.replace(" ", "").split(","):
        lo_text, dash, hi_text = part.partition("-")
        if not lo_text.isdigit() or (dash and not hi_text.isdigit()):
            raise WaifuganError(
                f"--styles {spec!r}: expected coarse, middle, fine or ws indices like 0-3,5"
            )
        lo, hi = int(lo_text), int(hi_text or lo_text)
        if hi < lo or hi >= num_ws:
            raise WaifuganError(f"--styles {spec!r}: indices must be within 0..{num_ws - 1}")
        layers_set.update(range(lo, hi + 1))
    return sorted(layers_set)


@torch.no_grad()
def mix_styles(
    G: Generator,
    row_seeds: list[int],
    col_seeds: list[int],
    layers: list[int],
    psi: float = DEFAULT_PSI,
    noise_mode: str = "const",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source faces and mixed faces.

    Returns:
        rows [R, H, W, 3], cols [C, H, W, 3], and cells [R, C, H, W, 3] uint8 where cell
        (r, c) is row r's ws with the ws at `layers` replaced by column c's.
    """
    device = G.device
    ws_rows = G.mapping(seeds_to_z(row_seeds, G.z_dim).to(device), psi=psi)  # [R, num_ws, w_dim]
    ws_cols = G.mapping(seeds_to_z(col_seeds, G.z_dim).to(device), psi=psi)  # [C, num_ws, w_dim]
    rows = to_uint8(G.synthesis(ws_rows, noise_mode=noise_mode))
    cols = to_uint8(G.synthesis(ws_cols, noise_mode=noise_mode))
    cells = []
    for r in range(len(row_seeds)):
        ws = ws_rows[r : r + 1].repeat(len(col_seeds), 1, 1)
        ws[:, layers] = ws_cols[:, layers]
        cells.append(to_uint8(G.synthesis(ws, noise_mode=noise_mode)))
    return rows, cols, np.stack(cells)


def mix_grid(rows: np.ndarray, cols: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """[(R+1)*H, (C+1)*W, 3]: column sources along the top, row sources down the left."""
    num_rows, num_cols, h, w, _ = cells.shape
    grid = np.full(((num_rows + 1) * h, (num_cols + 1) * w, 3), 255, dtype=np.uint8)
    for c in range(num_cols):
        grid[:h, (c + 1) * w : (c + 2) * w] = cols[c]
    for r in range(num_rows):
        grid[(r + 1) * h : (r + 2) * h, :w] = rows[r]
        for c in range(num_cols):
            grid[(r + 1) * h : (r + 2) * h, (c + 1) * w : (c + 2) * w] = cells[r, c]
    return grid


@dataclass(frozen=True)
class MixConfig:
    """Options of `waifugan mix`."""

    row_seeds: tuple[int, ...]  # faces that keep their other layers
    col_seeds: tuple[int, ...]  # faces whose styles are copied in
    styles: str = "coarse"  # coarse | middle | fine | ws indices like 0-3
    psi: float = DEFAULT_PSI
    noise_mode: str = "const"
    device: str = "auto"


def style_mix(
    model: str | os.PathLike[str], out: str | os.PathLike[str], cfg: MixConfig
) -> tuple[Path, list[int]]:
    """Write the style-mixing grid of a model to `out`; returns the path and ws indices used."""
    from waifugan import load
    from waifugan.devices import resolve_device

    if not cfg.row_seeds or not cfg.col_seeds:
        raise WaifuganError("--rows and --cols each need at least one seed")
    G = load(model, device=resolve_device(cfg.device))
    layers = style_layers(cfg.styles, G.num_ws)
    rows, cols, cells = mix_styles(
        G, list(cfg.row_seeds), list(cfg.col_seeds), layers, cfg.psi, cfg.noise_mode
    )
    return save_image(mix_grid(rows, cols, cells), Path(out)), layers
