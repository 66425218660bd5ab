"""The fast whole-factor Lanczos reduction agrees with Pillow's Lanczos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.prepare.fixtures import art
from waifugan.prepare.decode import decode
from waifugan.prepare.resize import lanczos_reduce, resize_square


def _pillow(rgb: np.ndarray, factor: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    size = (width // factor, height // factor)
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def sprite(shared_dir: Path) -> np.ndarray:
    """Line art with hard edges (ringing and clipping show there), 360x300 px."""
    rgb = decode((shared_dir / "data/renpy-demo/eileen-happy.png").read_bytes(), 10**8).rgb
    return np.ascontiguousarray(rgb[60:420, 10:310])


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_matches_pillow_on_line_art(sprite: np.ndarray, factor: int) -> None:
    ours, pillow = lanczos_reduce(sprite, factor), _pillow(sprite, factor)
    assert ours.shape == pillow.shape == (360 // factor, 300 // factor, 3)
    diff = np.abs(ours.astype(int) - pillow.astype(int))
    assert diff.max() <= 1, diff.max()
    assert diff.mean() < 0.1


def test_edges_rectangles_and_gray_match_pillow() -> None:
    rgb = art(3, size=96)[:, :72]  # not square: both axes' edge weights differ
    assert np.abs(lanczos_reduce(rgb, 2).astype(int) - _pillow(rgb, 2)).max() <= 1
    gray = np.ascontiguousarray(rgb[..., 0])
    out = lanczos_reduce(gray, 3)
    assert out.shape == (32, 24)
    assert np.abs(out.astype(int) - _pillow(gray, 3)).max() <= 1


def test_flat_image_stays_flat() -> None:
    """Edge renormalisation: no darkened or brightened border."""
    flat = np.full((64, 64, 3), 200, np.uint8)
    assert (lanczos_reduce(flat, 2) == 200).all()


@pytest.mark.parametrize(("side", "fast"), [(128, True), (256, True), (96, False), (640, False)])
def test_resize_square_uses_the_fast_path_only_for_small_whole_factors(
    side: int, fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    import waifugan.prepare.resize as resize

    real = resize.lanczos_reduce
    monkeypatch.setattr(resize, "lanczos_reduce", lambda *a: calls.append(a[1]) or real(*a))
    rgb = art(1, size=side)
    out = np.asarray(resize_square(rgb, 64))
    assert out.shape == (64, 64, 3)
    assert bool(calls) is fast
    pillow = Image.fromarray(rgb).resize((64, 64), Image.Resampling.LANCZOS)
    assert np.abs(out.astype(int) - np.asarray(pillow).astype(int)).max() <= 1
