"""Resize a crop to the dataset's square power-of-two resolution."""

from __future__ import annotations

import numpy as np
from PIL import Image

from waifugan.prepare.faces import center_square, read_crop

_FILTERS = {"lanczos": Image.Resampling.LANCZOS, "box": Image.Resampling.BOX}


def fit_square(rgb: np.ndarray, fit: str) -> np.ndarray:
    """Make a non-square image square: "center-crop", "pad" (white) or "stretch" (as is)."""
    height, width = rgb.shape[:2]
    if height == width or fit == "stretch":
        return rgb
    if fit == "center-crop":
        return read_crop(rgb, center_square((height, width)), "clamp")
    side = max(height, width)
    out = np.full((side, side, 3), 255, dtype=np.uint8)
    top, left = (side - height) // 2, (side - width) // 2
    out[top : top + height, left : left + width] = rgb
    return out


def resize_square(rgb: np.ndarray, resolution: int, resize_filter: str = "lanczos") -> Image.Image:
    """[H, W, 3] uint8 → a resolution² RGB image with a high-quality filter (a Pillow image,
    which the encoder takes as is)."""
    img = Image.fromarray(rgb)
    if rgb.shape[0] == resolution and rgb.shape[1] == resolution:
        return img
    return img.resize((resolution, resolution), _FILTERS[resize_filter])
