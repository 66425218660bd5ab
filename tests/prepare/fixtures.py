"""Image fixtures built by the tests: colourful synthetic art and a folder of messy files."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def art(seed: int, size: int = 96) -> np.ndarray:
    """A colourful, smooth, seed-specific [size, size, 3] uint8 image (distinct pHashes)."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, size=(5, 5, 3), dtype=np.uint8)
    img = Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img)


def png_bytes(rgb: np.ndarray, **kw: object) -> bytes:
    """Encode an array as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG", **kw)
    return buffer.getvalue()


def jpeg_bytes(img: Image.Image, **kw: object) -> bytes:
    """Encode an image as JPEG."""
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=95, **kw)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png16_rgb(rgb16: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG written by hand (Pillow cannot write 48-bit)."""
    height, width = rgb16.shape[:2]
    rows = b"".join(b"\0" + rgb16[y].astype(">u2").tobytes() for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))  # fmt: skip


def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming huge dimensions with almost no data (a decompression bomb)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IEND", b"")


def broken_crc_png(rgb: np.ndarray) -> bytes:
    """A PNG whose IDAT chunk CRC is wrong."""
    data = bytearray(png_bytes(rgb))
    idat = data.index(b"IDAT")
    length = struct.unpack(">I", data[idat - 4 : idat])[0]
    crc_at = idat + 4 + length
    data[crc_at] ^= 0xFF
    return bytes(data)


# name → expected outcome: "ok" or the start of the rejection reason
MESSY_EXPECTED = {
    "a_good.png": "ok",
    "b_good.jpg": "ok",
    "c_truncated.jpg": "corrupt image",
    "d_badcrc.png": "corrupt image",
    "e_empty.jpg": "empty file",
    "f_text.jpg": "not an image",
    "g_huge.png": "decompression bomb",
    "h_cmyk.jpg": "ok",
    "i_16bit.png": "ok",
    "j_palette_alpha.png": "ok",
    "k_animated.gif": "ok",
    "l_exif_rotated.jpg": "ok",
    "m_gray.png": "grayscale",
    "n_blank.png": "blank",
    "o_exact_dup.png": "exact duplicate",
    "p_near_dup.png": "near duplicate",
    "q_sepia.png": "monochrome",
    "r_small.png": "too small",
}


def build_messy(folder: Path) -> dict[str, str]:
    """Write the messy fixture folder; returns MESSY_EXPECTED."""
    folder.mkdir(parents=True, exist_ok=True)
    w = {name: folder / name for name in MESSY_EXPECTED}
    w["a_good.png"].write_bytes(png_bytes(art(1)))
    w["b_good.jpg"].write_bytes(jpeg_bytes(Image.fromarray(art(2))))
    w["c_truncated.jpg"].write_bytes(jpeg_bytes(Image.fromarray(art(3)))[:900])
    w["d_badcrc.png"].write_bytes(broken_crc_png(art(4)))
    w["e_empty.jpg"].write_bytes(b"")
    w["f_text.jpg"].write_text("this is not a picture\n")
    w["g_huge.png"].write_bytes(png_header_only(200_000, 200_000))
    w["h_cmyk.jpg"].write_bytes(jpeg_bytes(Image.fromarray(art(5)).convert("CMYK")))
    w["i_16bit.png"].write_bytes(png16_rgb(art(6).astype(np.uint16) * 257))
    pal = Image.fromarray(art(7)).quantize(32)
    pal.info["transparency"] = 0
    buffer = io.BytesIO()
    pal.save(buffer, format="PNG", transparency=0)
    w["j_palette_alpha.png"].write_bytes(buffer.getvalue())
    frames = [Image.fromarray(art(8)), Image.fromarray(art(9))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    w["k_animated.gif"].write_bytes(buffer.getvalue())
    rotated = Image.fromarray(art(10, size=128)[:, 16:112])  # 96 wide, 128 high
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90° clockwise
    w["l_exif_rotated.jpg"].write_bytes(jpeg_bytes(rotated, exif=exif))
    gray = np.asarray(Image.fromarray(art(11)).convert("L").convert("RGB"))
    w["m_gray.png"].write_bytes(png_bytes(gray))
    w["n_blank.png"].write_bytes(png_bytes(np.full((96, 96, 3), (200, 30, 30), np.uint8)))
    w["o_exact_dup.png"].write_bytes(w["a_good.png"].read_bytes())
    near = np.clip(art(2).astype(np.int16) + 3, 0, 255).astype(np.uint8)
    w["p_near_dup.png"].write_bytes(png_bytes(near))
    sepia = Image.fromarray(art(12)).convert("L")
    tinted = np.asarray(sepia, dtype=np.float32)[..., None] * np.array([1.0, 0.8, 0.55])
    w["q_sepia.png"].write_bytes(png_bytes(tinted.astype(np.uint8)))
    w["r_small.png"].write_bytes(png_bytes(art(13, size=32)))
    return dict(MESSY_EXPECTED)
