"""Fixtures for the metrics tests: tiny zip datasets and a cheap, counting feature extractor."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_zip_dataset(path: Path, images: np.ndarray) -> Path:
    """Write uint8 images [N, H, W, 3] as PNGs into a zip dataset (NVlabs layout)."""
    with zipfile.ZipFile(path, "w") as archive:
        for i, image in enumerate(images):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="PNG")
            archive.writestr(f"00000/img{i:08d}.png", buffer.getvalue())
        archive.writestr("dataset.json", '{"labels": null}')
    return path


def random_images(num: int, resolution: int, seed: int) -> np.ndarray:
    """Deterministic uint8 noise images [N, H, W, 3]."""
    rng = np.random.RandomState(seed)
    return rng.randint(0, 256, size=(num, resolution, resolution, 3), dtype=np.uint8)


class CountingExtractor:
    """Cheap stand-in for Inception: per-channel means and stds (6 features); counts images."""

    identity = "counting-test-extractor"

    def __init__(self, batch_size: int = 4) -> None:
        self.batch_size = batch_size
        self.num_images = 0

    def __call__(self, images: np.ndarray) -> np.ndarray:
        self.num_images += len(images)
        x = images.astype(np.float32) / 255.0
        return np.concatenate([x.mean(axis=(1, 2)), x.std(axis=(1, 2))], axis=1)


@pytest.fixture
def extractor() -> CountingExtractor:
    """A fresh counting extractor."""
    return CountingExtractor()
