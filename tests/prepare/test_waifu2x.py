"""waifu2x UpConv7: shapes, tiling, and quality against Lanczos on real anime art."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from waifugan.prepare.decode import decode
from waifugan.prepare.faces import FaceDetector, face_crop, read_crop
from waifugan.prepare.waifu2x import UpConv7, load_upconv7, upscale2x

SPRITES = ["eileen-concerned", "eileen-happy", "eileen-vhappy", "lucy-happy", "lucy-mad"]
CROP_PX = 192  # face region of each sprite: enough art, a few seconds on one CPU core


@pytest.fixture(scope="module")
def net(assets_dir: Path) -> UpConv7:
    return load_upconv7()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10.0 * np.log10(255.0**2 / mse)


def test_output_is_twice_the_size(net: UpConv7) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, size=(13, 21, 3), dtype=np.uint8)
    assert upscale2x(net, rgb).shape == (26, 42, 3)


def test_tiled_equals_untiled(net: UpConv7) -> None:
    rgb = np.asarray(
        Image.fromarray(
            np.random.default_rng(1).integers(0, 256, size=(12, 12, 3), dtype=np.uint8)
        ).resize((70, 50), Image.Resampling.BICUBIC)
    )
    whole = upscale2x(net, rgb, tile_px=1024).astype(int)
    tiled = upscale2x(net, rgb, tile_px=24).astype(int)
    assert np.abs(whole - tiled).max() <= 1  # float summation order only


def test_beats_lanczos_on_renpy_sprites(shared_dir: Path, net: UpConv7) -> None:
    detector = FaceDetector()
    gains = []
    for name in SPRITES:
        rgb = decode((shared_dir / "data/renpy-demo" / f"{name}.png").read_bytes(), 10**8).rgb
        boxes = detector.detect(rgb) or [(rgb.shape[1] // 4, 60, rgb.shape[1] // 2, 160)]
        crop = face_crop(boxes[0], rgb.shape[:2], 0.6, 0.1, "clamp")
        region = np.asarray(
            Image.fromarray(read_crop(rgb, crop, "clamp")).resize(
                (CROP_PX, CROP_PX), Image.Resampling.LANCZOS
            )
        )
        half = np.asarray(
            Image.fromarray(region).resize((CROP_PX // 2, CROP_PX // 2), Image.Resampling.BICUBIC)
        )
        lanczos = np.asarray(
            Image.fromarray(half).resize((CROP_PX, CROP_PX), Image.Resampling.LANCZOS)
        )
        waifu = upscale2x(net, half)
        gains.append(psnr(waifu, region) - psnr(lanczos, region))
    print(
        f"waifu2x PSNR gain over Lanczos per sprite (dB): {[round(float(g), 2) for g in gains]}, "
        f"mean {np.mean(gains):.2f}"
    )
    assert np.mean(gains) >= 1.0
    assert min(gains) > 0.0
