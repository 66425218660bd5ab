"""Content filters: blank, grayscale-looking and monochrome images, from colour statistics."""

from __future__ import annotations

import math

import cv2
import numpy as np

_LUMA = np.array([0.299, 0.587, 0.114])  # Rec. 601 luminance weights
STATS_SIDE_PX = 32  # statistics are computed on a copy at most this big: fast, and enough


def image_stats(rgb: np.ndarray) -> dict[str, float]:
    """Decision statistics of an [H, W, 3] uint8 image (written to the manifest).

    luma_std: standard deviation of luminance (0..255); chroma_mean: mean of max-min over RGB
    (0..255); colour_spread: sqrt(lambda2 / lambda1) of the RGB covariance, i.e. how far the
    colours are from one line in RGB space: gray, sepia or one-tint images are about 0.00-0.01,
    coloured drawings 0.02 and above (measured on the adventurer and renpy-demo art).
    """
    # A few whole-image OpenCV calls: per-pixel NumPy expressions cost more here than the maths.
    height, width = rgb.shape[:2]
    scale = STATS_SIDE_PX / max(height, width)
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    red, green, blue = cv2.split(rgb)
    high = cv2.max(cv2.max(red, green), blue)
    low = cv2.min(cv2.min(red, green), blue)
    chroma_mean = cv2.mean(cv2.subtract(high, low))[0]  # mean of max - min over R, G, B
    flags = cv2.COVAR_NORMAL | cv2.COVAR_ROWS | cv2.COVAR_SCALE
    covariance, _ = cv2.calcCovarMatrix(rgb.reshape(-1, 3), np.empty((1, 3)), flags)  # [3, 3]
    luma_std = math.sqrt(max(float(_LUMA @ covariance @ _LUMA), 0.0))
    eigen = cv2.eigen(covariance)[1].ravel()  # descending
    spread = math.sqrt(max(eigen[1], 0.0) / eigen[0]) if eigen[0] > 1e-9 else 0.0
    return {
        "luma_std": round(luma_std, 3),
        "chroma_mean": round(chroma_mean, 3),
        "colour_spread": round(float(spread), 5),
    }


def filter_reason(
    stats: dict[str, float],
    *,
    blank_std_max: float | None,
    gray_chroma_max: float | None,
    mono_spread_max: float | None,
) -> str | None:
    """The first filter that rejects an image with these stats (None: keep); a filter whose
    threshold is None is off."""
    if blank_std_max is not None and stats["luma_std"] <= blank_std_max:
        return f"blank: luminance std {stats['luma_std']:g} <= {blank_std_max:g}"
    if gray_chroma_max is not None and stats["chroma_mean"] <= gray_chroma_max:
        return f"grayscale: mean chroma {stats['chroma_mean']:g} <= {gray_chroma_max:g}"
    if mono_spread_max is not None and stats["colour_spread"] <= mono_spread_max:
        return f"monochrome: colour spread {stats['colour_spread']:g} <= {mono_spread_max:g}"
    return None
