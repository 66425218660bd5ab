"""Real-data statistics: the on-disk cache, its invalidation, subsets and resuming."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import waifugan.metrics.stats as stats_module
from waifugan.errors import WaifuganError
from waifugan.metrics.stats import (
    FeatureStats,
    dataset_fingerprint,
    real_stats,
    select_indices,
)

from .conftest import CountingExtractor, random_images, write_zip_dataset


def test_statistics_are_cached_and_the_second_call_does_not_extract(
    tmp_path: Path, extractor: CountingExtractor
) -> None:
    data = write_zip_dataset(tmp_path / "data.zip", random_images(10, 16, seed=0))
    first = real_stats(data, extractor, cache_dir=tmp_path / "cache")
    assert extractor.num_images == 10
    second = real_stats(data, extractor, cache_dir=tmp_path / "cache")
    assert extractor.num_images == 10  # served from the cache: the extractor was not called
    np.testing.assert_array_equal(first.features, second.features)
    np.testing.assert_allclose(first.cov, second.cov)
    assert first.num_images == 10


def test_cache_is_invalidated_when_the_dataset_changes(
    tmp_path: Path, extractor: CountingExtractor
) -> None:
    images = random_images(10, 16, seed=0)
    data = write_zip_dataset(tmp_path / "data.zip", images)
    before = real_stats(data, extractor, cache_dir=tmp_path / "cache")
    images[3, 0, 0] = 255 - images[3, 0, 0]  # one pixel of one image
    write_zip_dataset(data, images)
    after = real_stats(data, extractor, cache_dir=tmp_path / "cache")
    assert extractor.num_images == 20
    assert not np.array_equal(before.features, after.features)


def test_cache_key_includes_the_options(tmp_path: Path, extractor: CountingExtractor) -> None:
    data = write_zip_dataset(tmp_path / "data.zip", random_images(10, 16, seed=0))
    real_stats(data, extractor, cache_dir=tmp_path)
    subset = real_stats(data, extractor, max_real=4, cache_dir=tmp_path)
    smaller = real_stats(data, extractor, resolution=8, cache_dir=tmp_path)
    assert extractor.num_images == 10 + 4 + 10
    assert subset.num_images == 4
    assert smaller.num_images == 10


def test_folder_fingerprint_follows_content(tmp_path: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"one")
    first = dataset_fingerprint(folder)
    assert dataset_fingerprint(folder) == first
    (folder / "a.png").write_bytes(b"two")
    assert dataset_fingerprint(folder) != first
    with pytest.raises(WaifuganError, match="no such dataset"):
        dataset_fingerprint(tmp_path / "missing.zip")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(WaifuganError, match="not a zip"):
        dataset_fingerprint(tmp_path / "bad.zip")


def test_max_real_picks_a_seeded_subset() -> None:
    subset = select_indices(100, 10, seed=0)
    np.testing.assert_array_equal(subset, select_indices(100, 10, seed=0))
    assert len(set(subset.tolist())) == 10 and subset.max() < 100
    assert not np.array_equal(subset, select_indices(100, 10, seed=1))
    np.testing.assert_array_equal(select_indices(5, 10), np.arange(5))
    with pytest.raises(WaifuganError, match="max-real"):
        select_indices(5, 0)


def test_dataset_below_model_resolution_is_refused(
    tmp_path: Path, extractor: CountingExtractor
) -> None:
    data = write_zip_dataset(tmp_path / "data.zip", random_images(4, 16, seed=0))
    with pytest.raises(WaifuganError, match="below the model"):
        real_stats(data, extractor, resolution=32, cache_dir=tmp_path)


def test_interrupted_extraction_resumes_from_partial_features(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats_module, "PARTIAL_EVERY_IMAGES", 4)
    data = write_zip_dataset(tmp_path / "data.zip", random_images(12, 16, seed=0))

    class Interrupted(CountingExtractor):
        def __call__(self, images: np.ndarray) -> np.ndarray:
            if self.num_images >= 8:
                raise KeyboardInterrupt
            return super().__call__(images)

    with pytest.raises(KeyboardInterrupt):
        real_stats(data, Interrupted(), cache_dir=tmp_path)
    resumed_extractor = CountingExtractor()
    resumed = real_stats(data, resumed_extractor, cache_dir=tmp_path)
    assert resumed_extractor.num_images == 4  # only the batch after the saved 8 images
    fresh = real_stats(data, CountingExtractor(), cache_dir=tmp_path / "fresh")
    np.testing.assert_allclose(resumed.features, fresh.features)
    assert not list(tmp_path.glob("*.partial.npz"))


def test_feature_stats_need_two_vectors() -> None:
    with pytest.raises(WaifuganError, match="at least 2"):
        FeatureStats.from_features(np.zeros((1, 4), np.float32))
