"""What a run writes to show its progress: reals.png, fakes_init.png and fakesNNNNNN.png.

Every fakes grid draws the same seeds, so grids of one run compare frame by frame (and make
the progress video): the first rows untruncated (ψ = 1), the rest at the default ψ.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from waifugan.data.dataset import ImageDataset
from waifugan.networks.generator import Generator
from waifugan.networks.sampling import DEFAULT_PSI, seeds_to_z, to_uint8
from waifugan.pixels import make_grid, save_image
from waifugan.train.rundir import FAKES_INIT_PNG, REALS_PNG, fakes_name

GRID_COLS = 8
GRID_SEEDS = list(range(16))  # fixed seeds of every fakes grid
GRID_PSIS = (1.0, DEFAULT_PSI)  # one block of rows per ψ


@torch.no_grad()
def fakes_grid(G_ema: Generator) -> np.ndarray:
    """Fixed-seed grid of G_ema: the first rows at ψ=1, the rest at the default ψ."""
    z = seeds_to_z(GRID_SEEDS, G_ema.z_dim).to(G_ema.device)
    rows = [to_uint8(G_ema(z, psi=psi)) for psi in GRID_PSIS]
    return make_grid(np.concatenate(rows), GRID_COLS)


def write_start_images(run_dir: Path, dataset: ImageDataset, G_ema: Generator) -> None:
    """reals.png (a dataset sample) and fakes_init.png (the untrained G_ema)."""
    n = min(len(dataset), 32)
    reals = np.stack([dataset[i].transpose(1, 2, 0) for i in range(n)])
    save_image(make_grid(reals, GRID_COLS), run_dir / REALS_PNG)
    save_image(fakes_grid(G_ema), run_dir / FAKES_INIT_PNG)


def write_fakes(run_dir: Path, G_ema: Generator, cur_nimg: int) -> Path:
    """fakesNNNNNN.png at the current image count."""
    return save_image(fakes_grid(G_ema), run_dir / fakes_name(cur_nimg))
