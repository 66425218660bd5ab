"""Safe decoding of awkward files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms

from tests.prepare.fixtures import art, broken_crc_png, jpeg_bytes, png16_rgb, png_bytes
from waifugan.prepare.decode import DecodeError, decode

LIMIT = 10_000_000


def test_16bit_rgb_is_scaled_not_clipped() -> None:
    rgb = art(1, size=32)
    out = decode(png16_rgb(rgb.astype(np.uint16) * 257), LIMIT).rgb
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.abs(out.astype(int) - rgb).max() <= 1


def test_16bit_gray_is_scaled() -> None:
    values = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, format="PNG")
    out = decode(buffer.getvalue(), LIMIT).rgb
    assert out[0, 0].tolist() == [0, 0, 0] and out[-1, -1].tolist() == [255, 255, 255]
    assert 120 <= out[32, 0, 0] <= 135  # mid-gray, not clipped to white


def test_rgba_composited_on_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:4] = (255, 0, 0, 255)  # top half opaque red, bottom half transparent
    buffer = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buffer, format="PNG")
    out = decode(buffer.getvalue(), LIMIT).rgb
    assert out[0, 0].tolist() == [255, 0, 0] and out[7, 7].tolist() == [255, 255, 255]


def test_exif_orientation_applied() -> None:
    img = Image.fromarray(art(2, size=64)[:, :32])  # 32 wide, 64 high
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(jpeg_bytes(img, exif=exif), LIMIT)
    assert decoded.rgb.shape == (32, 64, 3) and decoded.info["orientation"] == 6


def test_icc_profile_honoured() -> None:
    rgb = art(3, size=16)
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", icc_profile=profile.tobytes())
    decoded = decode(buffer.getvalue(), LIMIT)
    assert decoded.info["icc"] is True  # converted through the embedded profile
    assert np.abs(decoded.rgb.astype(int) - rgb).max() <= 2  # sRGB → sRGB: unchanged


def test_cmyk_jpeg_becomes_rgb() -> None:
    rgb = art(4, size=32)
    out = decode(jpeg_bytes(Image.fromarray(rgb).convert("CMYK")), LIMIT).rgb
    assert out.shape == (32, 32, 3)
    assert np.abs(out.astype(int) - rgb).mean() < 12


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"hello, not an image", "not an image"),
        (broken_crc_png(art(5, size=32)), "corrupt image"),
        (jpeg_bytes(Image.fromarray(art(6)))[:700], "corrupt image"),
    ],
)
def test_bad_files_rejected_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode(data, LIMIT)


def test_pixel_limit() -> None:
    data = png_bytes(art(7, size=64))
    assert decode(data, 64 * 64).rgb.shape == (64, 64, 3)
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode(data, 64 * 64 - 1)
