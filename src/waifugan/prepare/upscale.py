"""Upscale crops smaller than the target: waifu2x ×2 repeatedly, or leave it to Lanczos."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is imported only when waifu2x runs
    from waifugan.prepare.waifu2x import UpConv7

MAX_DOUBLINGS = 3  # ×8 at most: beyond that waifu2x invents more than it restores


def upscale_to(
    rgb: np.ndarray,
    target_px: int,
    net: UpConv7 | None,
    tile_px: int = 128,
    device: str = "cpu",
) -> tuple[np.ndarray, int]:
    """Double an [H, W, 3] uint8 crop with waifu2x until its short side reaches target_px.

    Returns the image and the number of doublings; with net=None (Lanczos or no upscaling)
    the image is returned as is and the resize stage does the rest.
    """
    doublings = 0
    if net is not None:
        from waifugan.prepare.waifu2x import upscale2x
    while net is not None and min(rgb.shape[:2]) < target_px and doublings < MAX_DOUBLINGS:
        rgb = upscale2x(net, rgb, tile_px=tile_px, device=device)
        doublings += 1
    return rgb, doublings
