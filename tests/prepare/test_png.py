"""The lean PNG writer: valid files, exact pixels, sizes on par with Pillow's encoder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.prepare.fixtures import art
from waifugan.prepare.decode import check_png_chunks
from waifugan.prepare.png import encode_png, filter_rows


def _pillow_png(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("shape", [(64, 64, 3), (1, 1, 3), (5, 17, 3), (32, 48, 3)])
def test_round_trip_is_exact(shape: tuple[int, int, int]) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png(rgb)
    check_png_chunks(data)  # every CRC right, ends with IEND
    img = Image.open(io.BytesIO(data))
    assert (img.format, img.mode, img.size) == ("PNG", "RGB", (shape[1], shape[0]))
    assert np.array_equal(np.asarray(img), rgb)


def test_both_filters_are_chosen_by_row() -> None:
    rgb = art(2, size=32).copy()
    rgb[16:] = rgb[15]  # repeated rows: Up leaves all zeros, so Up must win there
    kinds = filter_rows(rgb)[:, 0]
    assert set(kinds.tolist()) == {1, 2}
    assert (kinds[17:] == 2).all()
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(encode_png(rgb)))), rgb)


def test_size_on_par_with_pillow_on_anime_art(shared_dir: Path) -> None:
    """Sub/Up suit flat colours and line art; smooth gradients would favour Paeth."""
    images = []
    for path in sorted((shared_dir / "data/renpy-demo").glob("*.png")):
        rgb = Image.open(path).convert("RGB")
        side = min(rgb.size)
        for resolution in (64, 256):
            square = rgb.crop((0, 0, side, side)).resize((resolution, resolution))
            images.append(np.asarray(square))
    ours = sum(len(encode_png(rgb)) for rgb in images)
    pillow = sum(len(_pillow_png(rgb)) for rgb in images)
    assert ours <= 1.03 * pillow, (ours, pillow)


def test_deterministic_and_level_is_used() -> None:
    images = [art(seed, size=64) for seed in range(2)]
    assert encode_png(images[0]) == encode_png(images[0].copy())
    assert len(encode_png(images[0], level=9)) <= len(encode_png(images[0], level=1))


def test_refuses_other_layouts() -> None:
    with pytest.raises(ValueError, match=r"\[H, W, 3\] uint8"):
        encode_png(np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="float32"):
        encode_png(np.zeros((8, 8, 3), np.float32))
