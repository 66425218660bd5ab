"""FID on real data: two disjoint 1,000-image halves of the adventurer set at 64 px are close,
and far closer than the same data against a blurred copy.

Inception runs at ~5 images/s on one CPU thread, so the 3,000 feature vectors this test needs
take minutes once (it uses every core). They are kept in pytest's cache folder
(`.pytest_cache/d/`, cleared by `pytest --cache-clear`) through the library's own
real-statistics cache, keyed by dataset content, options and the extractor's identity;
later runs only pay the two matrix square roots.
Recorded on this machine: see docs/metrics.md.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from waifugan.metrics.features import InceptionFeatures
from waifugan.metrics.fid import fid_from_stats
from waifugan.metrics.stats import (
    FeatureStats,
    iter_dataset_batches,
    open_dataset,
    real_stats,
    select_indices,
)

# The first run extracts 3,000 images (minutes on 2 quiet cores, far more on a busy machine);
# an interrupted run resumes from the partial features it saved.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

RESOLUTION = 64
HALF = 1000
BLUR_RADIUS_PX = 1.0  # Gaussian sigma at 64 px: visibly soft, still the same faces


def _half_b(data: Path) -> np.ndarray:
    """The second half's images at 64 px: uint8 [HALF, 64, 64, 3]."""
    dataset = open_dataset(data, RESOLUTION)
    indices = select_indices(len(dataset), 2 * HALF, seed=0)[HALF:]
    return np.concatenate(list(iter_dataset_batches(dataset, indices, 64, RESOLUTION)))


def _blurred(images: np.ndarray) -> np.ndarray:
    blur = ImageFilter.GaussianBlur(BLUR_RADIUS_PX)
    return np.stack([np.asarray(Image.fromarray(img).filter(blur)) for img in images])


def _cached_features(images: np.ndarray, extractor: InceptionFeatures, folder: Path) -> np.ndarray:
    key = hashlib.sha256(images.tobytes() + extractor.identity.encode()).hexdigest()[:24]
    path = folder / f"features-{key}.npy"
    if path.is_file():
        return np.load(path, allow_pickle=False)
    features = extractor(images)
    np.save(path, features)
    return features


@pytest.fixture
def all_cores() -> Iterator[None]:
    """Inception is the one heavy network in the suite: let it use every core (the suite's
    default is one thread, see tests/conftest.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    yield
    torch.set_num_threads(before)


def test_fid_halves_small_and_far_below_blurred(
    shared_dir: Path, assets_dir: Path, pytestconfig: pytest.Config, tmp_path: Path, all_cores: None
) -> None:
    data = shared_dir / "data" / "adventurer-train-128.zip"
    if not data.is_file():
        pytest.skip(f"{data} not found")
    # pytest's cache folder when the cache plugin is on (`-p no:cacheprovider` turns it off).
    plugin_cache = getattr(pytestconfig, "cache", None)
    cache = Path(plugin_cache.mkdir("waifugan-metrics")) if plugin_cache else tmp_path
    extractor = InceptionFeatures("cpu", batch_size=50)
    both = real_stats(data, extractor, resolution=RESOLUTION, max_real=2 * HALF, cache_dir=cache)
    # select_indices draws a random subset then sorts it: the halves are disjoint and both random.
    half_a = FeatureStats.from_features(both.features[:HALF])
    half_b = FeatureStats.from_features(both.features[HALF:])
    images_b = _half_b(data)
    # One degraded copy (the issue asks for "blurred or colour-shifted"): each costs 1,000 more
    # Inception passes; the colour-shifted figure (18.51) is recorded in docs/metrics.md.
    blurred = FeatureStats.from_features(_cached_features(_blurred(images_b), extractor, cache))

    fid_halves = fid_from_stats(half_a, half_b)
    fid_blurred = fid_from_stats(half_a, blurred)
    print(f"FID halves {fid_halves:.2f}, blurred {fid_blurred:.2f}")
    # Recorded on the 2-core CPU: halves 10.05, blurred 100.92, colour-shifted 18.51 (Inception
    # features are fairly colour-invariant; a blur destroys the texture they are built on).
    assert 0 < fid_halves < 20
    assert fid_blurred > 5 * fid_halves
