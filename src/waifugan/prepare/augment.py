"""Offline augmentation: seeded colour shift, blur, sharpen, crop, brightness, contrast."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageFilter


def augment_rng(seed: int, key: str, copy: int) -> np.random.Generator:
    """A generator that depends only on (seed, sample key, copy index): reproducible runs."""
    digest = hashlib.sha256(f"{seed}\0{key}\0{copy}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def augment(rgb: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """One augmented copy of a square [S, S, 3] uint8 image and the parameters used."""
    side = rgb.shape[0]
    img = Image.fromarray(rgb)
    params: dict[str, Any] = {}
    if rng.random() < 0.5:  # random crop of 80-95 % of the side, resized back
        crop = int(side * rng.uniform(0.80, 0.95))
        left, top = (int(v) for v in rng.integers(0, side - crop + 1, size=2))
        img = img.crop((left, top, left + crop, top + crop)).resize(
            (side, side), Image.Resampling.LANCZOS
        )
        params["crop"] = [left, top, crop]
    if rng.random() < 0.5:  # colour shift: per-channel gains
        gains = rng.uniform(0.9, 1.1, size=3)
        arr = np.asarray(img).astype(np.float32) * gains
        img = Image.fromarray(np.clip(arr + 0.5, 0, 255).astype(np.uint8))
        params["colour_gains"] = [round(float(g), 4) for g in gains]
    if rng.random() < 0.5:
        factor = float(rng.uniform(0.8, 1.2))
        img = ImageEnhance.Brightness(img).enhance(factor)
        params["brightness"] = round(factor, 4)
    if rng.random() < 0.5:
        factor = float(rng.uniform(0.8, 1.2))
        img = ImageEnhance.Contrast(img).enhance(factor)
        params["contrast"] = round(factor, 4)
    sharpen_or_blur = rng.random()
    if sharpen_or_blur < 0.25:
        radius = float(rng.uniform(0.3, 1.2)) * side / 256.0
        img = img.filter(ImageFilter.GaussianBlur(radius))
        params["blur_radius_px"] = round(radius, 4)
    elif sharpen_or_blur < 0.5:
        percent = int(rng.integers(50, 150))
        img = img.filter(ImageFilter.UnsharpMask(radius=2, percent=percent, threshold=2))
        params["sharpen_percent"] = percent
    return np.asarray(img), params
