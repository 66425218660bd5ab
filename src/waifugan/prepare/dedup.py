"""Exact (content hash) and near-duplicate (64-bit pHash within a Hamming distance) detection.

Near duplicates use multi-index hashing: the 64 bits are split into d + 1 disjoint chunks, and
by the pigeonhole principle two hashes within distance d agree exactly on at least one chunk.
Each chunk value indexes a bucket of earlier hashes; only those candidates get a (vectorised)
Hamming distance. 100k hashes dedup in about a second instead of 10^10 pair checks. Up to
32k kept hashes one vectorised scan of them all is cheaper still, so the tables are only built
once the dataset grows past that.

A 64-bit pHash cannot tell clean vector-style faces that differ only in the eyes or mouth
(measured on the adventurer set: 37 % of faces had another within 4 bits). So a pHash match is
confirmed on 16x16 RGB thumbnails: the 99th percentile of the per-pixel difference stays
below ~20 for re-encodes, resizes and brightness/contrast changes, and is above ~29 for such
variants (measured); the default limit is 24.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import cv2
import numpy as np

HASH_BITS = 64
MIN_CHUNK_BITS = 4  # below this the buckets are too coarse: compare against all hashes
# Up to this many kept hashes one vectorised scan of all of them is cheaper than gathering
# bucket candidates in Python (measured: 25 us vs 200 us a query at 10k hashes).
SCAN_ALL_MAX = 1 << 15
SIGNATURE_PX = 32  # side of the shrunk copy behind stats, pHash and thumbnail
THUMB_SIDE_PX = 16
THUMB_BYTES = THUMB_SIDE_PX * THUMB_SIDE_PX * 3
DIFF_PERCENTILE = 99.0
PHASH_SIDE = 8  # 8x8 low frequencies: 64 bits

# cv2.dct is orthonormal; scipy.fftpack.dct (imagehash) is not: per axis, coefficient 0 is
# 2*sqrt(N) and the others sqrt(2N) times larger. The hash compares coefficients with their
# median, so the scale must match for the bits to match.
_AXIS_SCALE = np.array([2 * np.sqrt(SIGNATURE_PX)] + [np.sqrt(2 * SIGNATURE_PX)] * (PHASH_SIDE - 1))
_DCT_SCALE = np.outer(_AXIS_SCALE, _AXIS_SCALE)


def signature(rgb: np.ndarray) -> np.ndarray:
    """32x32 area-averaged RGB copy of an image: what the filters' statistics, the pHash and the
    thumbnail are computed from, so a crop is shrunk once for all three."""
    if rgb.shape[:2] == (SIGNATURE_PX, SIGNATURE_PX):
        return rgb
    return cv2.resize(rgb, (SIGNATURE_PX, SIGNATURE_PX), interpolation=cv2.INTER_AREA)


def thumb(rgb: np.ndarray) -> bytes:
    """16x16 RGB area-averaged thumbnail (768 bytes) for confirming pHash matches."""
    side = (THUMB_SIDE_PX, THUMB_SIDE_PX)
    return cv2.resize(signature(rgb), side, interpolation=cv2.INTER_AREA).tobytes()


def thumbs_within(thumbs: np.ndarray, query: np.ndarray, max_diff: float) -> np.ndarray:
    """Which [N, 768] uint8 thumbnails are within max_diff of one [768] thumbnail, measured
    as the 99th percentile (lower rank) of the per-byte |difference|."""
    diff = np.maximum(thumbs, query) - np.minimum(thumbs, query)  # |a - b| without overflow
    rank = int(DIFF_PERCENTILE / 100.0 * (THUMB_BYTES - 1))
    # The value at `rank` is <= max_diff exactly when at most THUMB_BYTES - 1 - rank bytes
    # exceed it: a count instead of a partial sort.
    return np.count_nonzero(diff > max_diff, axis=1) <= THUMB_BYTES - 1 - rank


def phash(rgb: np.ndarray) -> int:
    """64-bit perceptual hash as an int: the imagehash.phash algorithm (DCT of the 32x32
    grayscale, low 8x8 frequencies above their median, row-major bits) on the image's
    signature, with OpenCV's DCT: the same bits as imagehash.phash of that grayscale
    (tested) at a fifth of its cost, which was 7 % of a prepare run."""
    gray = cv2.cvtColor(signature(rgb), cv2.COLOR_RGB2GRAY).astype(np.float64)
    low = cv2.dct(gray)[:PHASH_SIDE, :PHASH_SIDE] * _DCT_SCALE  # scipy's unnormalised DCT-II
    ranked = np.sort(low, axis=None)
    bits = low.reshape(-1) > (ranked[31] + ranked[32]) / 2  # the median (np.median is slow)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def bitwise_distance(a: int, b: int) -> int:
    """Hamming distance between two 64-bit hashes."""
    return (a ^ b).bit_count()


def hamming(hashes: np.ndarray, query: int) -> np.ndarray:
    """Hamming distances between a uint64 array and one 64-bit hash."""
    return np.bitwise_count(hashes ^ np.uint64(query))


class NearDuplicateIndex:
    """Online index of kept pHashes: `match` finds an earlier image within max_distance bits
    whose thumbnail difference is at most max_diff (None: pHash alone decides)."""

    def __init__(
        self, max_distance: int, max_diff: float | None = None, scan_all_max: int = SCAN_ALL_MAX
    ) -> None:
        self.max_distance = max_distance
        self.max_diff = max_diff
        self.scan_all_max = scan_all_max
        self.thumbs = np.zeros((1024, THUMB_BYTES), dtype=np.uint8)
        chunks = max_distance + 1
        self.linear = HASH_BITS // chunks < MIN_CHUNK_BITS
        bounds = np.linspace(0, HASH_BITS, chunks + 1).round().astype(int)
        self.chunks = [
            (int(lo), int(hi - lo)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        self.tables: list[defaultdict[int, list[int]]] = [defaultdict(list) for _ in self.chunks]
        self.indexed = 0  # hashes entered in the tables (built once the scans get too long)
        self.hashes = np.zeros(1024, dtype=np.uint64)
        self.size = 0

    def _keys(self, value: int) -> list[int]:
        return [(value >> shift) & ((1 << bits) - 1) for shift, bits in self.chunks]

    def match(self, value: int, thumbnail: bytes | None = None) -> tuple[int, int] | None:
        """(position, distance) of the first kept hash within max_distance, or None."""
        if self.size == 0:
            return None
        if self.linear or self.size <= self.scan_all_max:
            distances = hamming(self.hashes[: self.size], value)
            positions = np.flatnonzero(distances <= self.max_distance)
        else:
            self._index_up_to(self.size)
            found: set[int] = set()
            for table, key in zip(self.tables, self._keys(value), strict=True):
                found.update(table.get(key, ()))
            if not found:
                return None
            candidates = np.fromiter(sorted(found), dtype=np.int64, count=len(found))
            distances = hamming(self.hashes[candidates], value)
            positions = candidates[distances <= self.max_distance]
        if positions.size and self.max_diff is not None and thumbnail is not None:
            query = np.frombuffer(thumbnail, dtype=np.uint8)
            positions = positions[thumbs_within(self.thumbs[positions], query, self.max_diff)]
        if positions.size == 0:
            return None
        first = int(positions[0])  # positions are ascending: the earliest kept image
        return first, bitwise_distance(int(self.hashes[first]), value)

    def add(self, value: int, thumbnail: bytes | None = None) -> int:
        """Keep a hash (and its thumbnail); returns its position."""
        if self.size == len(self.hashes):
            self.hashes = np.concatenate([self.hashes, np.zeros_like(self.hashes)])
            self.thumbs = np.concatenate([self.thumbs, np.zeros_like(self.thumbs)])
        self.hashes[self.size] = np.uint64(value)
        if thumbnail is not None:
            self.thumbs[self.size] = np.frombuffer(thumbnail, dtype=np.uint8)
        self.size += 1
        return self.size - 1

    def _index_up_to(self, size: int) -> None:
        for position in range(self.indexed, size):
            keys = self._keys(int(self.hashes[position]))
            for table, key in zip(self.tables, keys, strict=True):
                table[key].append(position)
        self.indexed = size


def near_duplicates(
    hashes: list[int], max_distance: int, scan_all_max: int = SCAN_ALL_MAX
) -> list[int | None]:
    """For each hash in order, the index of an earlier kept hash it duplicates (keep-first),
    or None when it is kept."""
    index = NearDuplicateIndex(max_distance, scan_all_max=scan_all_max)
    kept_at: list[int] = []  # index position → input index
    out: list[int | None] = []
    for i, value in enumerate(hashes):
        hit = index.match(value)
        if hit is None:
            index.add(value)
            kept_at.append(i)
            out.append(None)
        else:
            out.append(kept_at[hit[0]])
    return out
