"""Helpers shared by the card and server tests: a tiny tagger and toy faces."""

from __future__ import annotations

import numpy as np
import torch

from waifugan.networks.tagger import Tagger, TaggerConfig

TINY_TAGS = ("long_hair", "short_hair", "red_hair", "blonde_hair", "glasses", "smile", "cat_ears")


def tiny_tagger(resolution: int = 16, seed: int = 0) -> Tagger:
    """A randomly initialised tagger (fixed seed), eval mode."""
    torch.manual_seed(seed)
    cfg = TaggerConfig(tags=TINY_TAGS, img_resolution=resolution, channel_base=4, channel_max=8)
    return Tagger(cfg).eval()


def face(red: bool, glasses: bool, size: int = 32) -> np.ndarray:
    """A toy face [size, size, 3] uint8: red or yellow 'hair' on top, a dark band for glasses."""
    img = np.full((size, size, 3), 230, dtype=np.uint8)
    img[: size // 3] = (200, 40, 40) if red else (230, 200, 60)
    if glasses:
        img[size // 2 - 2 : size // 2 + 2, 4:-4] = 20
    return img
