"""The Inception feature extractor: input mapping, quantization consistency, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tests.tiny import tiny_G
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.metrics.features import (
    FEATURE_DIM,
    InceptionFeatures,
    to_inception_input,
)
from waifugan.metrics.stats import real_stats

from .conftest import write_zip_dataset


@pytest.fixture(scope="module")
def inception(assets_dir: Path) -> InceptionFeatures:
    """The real extractor on CPU (loaded once per module)."""
    return InceptionFeatures("cpu", batch_size=8)


def test_input_mapping_is_x_over_128_minus_1() -> None:
    images = np.zeros((2, 299, 299, 3), np.uint8)
    images[1] = 255
    x = to_inception_input(torch.from_numpy(images))
    assert x.shape == (2, 3, 299, 299) and x.dtype == torch.float32
    assert x[0].min() == -1.0 and x[1].max() == 255 / 128 - 1  # 0.9921875


def test_resize_is_bilinear_to_299_and_keeps_flat_colours_exact() -> None:
    images = np.full((1, 64, 64, 3), 200, np.uint8)
    images[..., 1] = 10
    x = to_inception_input(torch.from_numpy(images))
    assert x.shape == (1, 3, 299, 299)
    torch.testing.assert_close(x[0, 0], torch.full((299, 299), 200 / 128 - 1))
    torch.testing.assert_close(x[0, 1], torch.full((299, 299), 10 / 128 - 1))


def test_png_round_trip_gives_identical_features(
    tmp_path: Path, inception: InceptionFeatures
) -> None:
    # Generated pixels -> PNG in a zip dataset -> the real-data path must see the same features
    # as the in-memory path fakes take.
    images = tiny_G(16).sample(list(range(6)), psi=1.0)  # [6, 16, 16, 3] uint8
    data = write_zip_dataset(tmp_path / "fakes.zip", images)
    from_disk = real_stats(data, inception, cache_dir=tmp_path / "cache").features
    in_memory = inception(images)
    assert in_memory.shape == (6, FEATURE_DIM)
    np.testing.assert_array_equal(from_disk, in_memory)
    assert np.all(in_memory >= 0)  # pool features after ReLU
    assert np.abs(in_memory[0] - in_memory[1]).max() > 0  # different images, different features


def test_features_do_not_depend_on_batching(inception: InceptionFeatures) -> None:
    images = np.random.RandomState(0).randint(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    batched = inception(images)
    single = np.concatenate([inception(images[i : i + 1]) for i in range(3)])
    np.testing.assert_allclose(batched, single, rtol=1e-4, atol=1e-4)


def test_float_images_are_refused(inception: InceptionFeatures) -> None:
    with pytest.raises(WaifuganError, match="uint8"):
        inception(np.zeros((1, 16, 16, 3), np.float32))
    with pytest.raises(WaifuganError, match=r"\[N, H, W, 3\]"):
        inception(np.zeros((1, 3, 16, 16), np.uint8))


def test_device_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in {"cpu", "cuda"}
    with pytest.raises(WaifuganError, match="not a valid torch device"):
        resolve_device("toaster")
