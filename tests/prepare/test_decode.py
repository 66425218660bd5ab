"""Safe decoding of awkward files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

import waifugan.prepare.decode as decode_module
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


def _general_path(data: bytes, monkeypatch: pytest.MonkeyPatch) -> tuple[np.ndarray, dict]:
    with monkeypatch.context() as patch:
        patch.setattr(decode_module, "_decode_plain_png", lambda *args: None)
        decoded = decode(data, LIMIT)
    return decoded.rgb, decoded.info


def _took_plain_path(data: bytes, monkeypatch: pytest.MonkeyPatch) -> bool:
    calls = []
    real = decode_module._decode_plain_png
    with monkeypatch.context() as patch:
        patch.setattr(
            decode_module, "_decode_plain_png", lambda *a: calls.append(real(*a)) or calls[-1]
        )
        decode(data, LIMIT)
    return calls[-1] is not None


def _with_alpha(rgb: np.ndarray, alpha: int) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], alpha, np.uint8)])


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_plain_png_fast_path_equals_pillow(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rgb = art(4, size=40)[:, :33]
    data = png_bytes(_with_alpha(rgb, 255) if mode == "RGBA" else rgb)
    assert _took_plain_path(data, monkeypatch)
    out = decode(data, LIMIT)
    expected, info = _general_path(data, monkeypatch)
    assert out.rgb.dtype == np.uint8 and out.rgb.flags.c_contiguous
    assert np.array_equal(out.rgb, expected) and np.array_equal(out.rgb, rgb)
    assert out.info == info


def test_pngs_with_meaning_beyond_pixels_take_the_general_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rgb = art(5, size=24)
    exif = Image.Exif()
    exif[0x0112] = 6
    text = PngImagePlugin.PngInfo()
    text.add_text("Raw profile type exif", "exif\n      0\n")
    others = {
        "transparent": png_bytes(_with_alpha(rgb, 128)),
        "colour key": png_bytes(rgb, transparency=(0, 0, 0)),
        "icc": png_bytes(
            rgb, icc_profile=ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        ),
        "exif": png_bytes(rgb, exif=exif.tobytes()),
        "exif in text": png_bytes(rgb, pnginfo=text),
        "16-bit": png16_rgb(rgb.astype(np.uint16) * 257),
        "gray": png_bytes(rgb[..., 0]),
    }
    for name, data in others.items():
        assert not _took_plain_path(data, monkeypatch), name
    plain_text = PngImagePlugin.PngInfo()
    plain_text.add_text("parameters", "1girl, smile")  # ordinary text chunks are fine
    assert _took_plain_path(png_bytes(rgb, pnginfo=plain_text), monkeypatch)
