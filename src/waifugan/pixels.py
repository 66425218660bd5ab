"""uint8 image arrays every layer shares: the resolution rule, grids, writing to disk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image


def is_valid_resolution(side: int, minimum: int = 4) -> bool:
    """The rule for square image sides: a power of two, at least `minimum` px."""
    return side >= minimum and side & (side - 1) == 0


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
