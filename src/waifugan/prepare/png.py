"""A lean PNG writer for the dataset's 8-bit RGB images.

Pillow's PNG encoder is the obvious choice, but per small image it spends more time in Python
set-up and in the system zlib than in the useful work: on the 2-core reference machine a 64 px
face took 0.38 ms, 0.13 ms of it even at compression level 0. This writer picks a Sub or Up
filter per row (the smaller sum of absolute residuals, libpng's heuristic restricted to the two
cheapest filters), deflates with zlib-ng at the same level and frames the chunks itself:
0.2 ms. Files come out 1.6 % smaller than Pillow's on the adventurer faces and up to 2.5 %
larger on painted art with soft shading, where Paeth would help; adding Paeth cost 0.09 ms.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from zlib_ng import zlib_ng

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SUB, _UP = 1, 2  # PNG filter types
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def encode_png(rgb: np.ndarray, level: int = 6) -> bytes:
    """[H, W, 3] uint8 → PNG bytes (8-bit RGB, no metadata); deterministic for equal pixels."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"encode_png takes [H, W, 3] uint8, got {rgb.shape} {rgb.dtype}")
    height, width = rgb.shape[:2]
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    idat = zlib_ng.compress(filter_rows(rgb).tobytes(), level)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _IEND


def filter_rows(rgb: np.ndarray) -> np.ndarray:
    """The filtered scanlines, [H, 1 + W*C]: per row a filter byte, then the residuals."""
    height, width, channels = rgb.shape
    rows = np.ascontiguousarray(rgb).reshape(height, width * channels)
    residuals = np.empty((2, height, width * channels), np.uint8)
    sub, up = residuals
    sub[:, :channels] = rows[:, :channels]
    np.subtract(rows[:, channels:], rows[:, :-channels], out=sub[:, channels:])  # wraps mod 256
    up[0] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=up[1:])
    magnitude = np.minimum(residuals, 0 - residuals)  # |byte as signed|, still in uint8
    use_up = magnitude.sum(axis=2, dtype=np.uint32).argmin(axis=0).astype(bool)
    out = np.empty((height, 1 + width * channels), np.uint8)
    out[:, 0] = np.where(use_up, _UP, _SUB)
    out[:, 1:] = np.where(use_up[:, None], up, sub)
    return out


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind))
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
