"""Exact (content hash) and near-duplicate (64-bit pHash within a Hamming distance) detection.

Near duplicates use multi-index hashing: the 64 bits are split into d + 1 disjoint chunks, and
by the pigeonhole principle two hashes within distance d agree exactly on at least one chunk.
Each chunk value indexes a bucket of earlier hashes; only those candidates get a (vectorised)
Hamming distance. 100k hashes dedup in about a second instead of 10^10 pair checks.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

import imagehash
import numpy as np
from PIL import Image

HASH_BITS = 64
MIN_CHUNK_BITS = 4  # below this the buckets are too coarse: compare against all hashes


def phash(rgb: np.ndarray) -> int:
    """64-bit perceptual hash (imagehash.phash: DCT of the 32x32 grayscale) as an int."""
    return int(str(imagehash.phash(Image.fromarray(rgb))), 16)


def content_hash(data: bytes) -> str:
    """SHA-256 hex digest of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def hamming(hashes: np.ndarray, query: int) -> np.ndarray:
    """Hamming distances between a uint64 array and one 64-bit hash."""
    return np.bitwise_count(hashes ^ np.uint64(query)).astype(np.int64)


class NearDuplicateIndex:
    """Online index of kept pHashes: `match` finds an earlier hash within max_distance bits."""

    def __init__(self, max_distance: int) -> None:
        self.max_distance = max_distance
        chunks = max_distance + 1
        self.linear = HASH_BITS // chunks < MIN_CHUNK_BITS
        bounds = np.linspace(0, HASH_BITS, chunks + 1).round().astype(int)
        self.chunks = [
            (int(lo), int(hi - lo)) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        self.tables: list[defaultdict[int, list[int]]] = [defaultdict(list) for _ in self.chunks]
        self.hashes = np.zeros(1024, dtype=np.uint64)
        self.size = 0

    def _keys(self, value: int) -> list[int]:
        return [(value >> shift) & ((1 << bits) - 1) for shift, bits in self.chunks]

    def match(self, value: int) -> tuple[int, int] | None:
        """(position, distance) of the first kept hash within max_distance, or None."""
        if self.size == 0:
            return None
        if self.linear:
            candidates = np.arange(self.size)
        else:
            found: set[int] = set()
            for table, key in zip(self.tables, self._keys(value), strict=True):
                found.update(table.get(key, ()))
            if not found:
                return None
            candidates = np.fromiter(sorted(found), dtype=np.int64, count=len(found))
        distances = hamming(self.hashes[candidates], value)
        close = np.flatnonzero(distances <= self.max_distance)
        if close.size == 0:
            return None
        first = int(close[0])
        return int(candidates[first]), int(distances[first])

    def add(self, value: int) -> int:
        """Keep a hash; returns its position."""
        if self.size == len(self.hashes):
            self.hashes = np.concatenate([self.hashes, np.zeros_like(self.hashes)])
        self.hashes[self.size] = np.uint64(value)
        if not self.linear:
            for table, key in zip(self.tables, self._keys(value), strict=True):
                table[key].append(self.size)
        self.size += 1
        return self.size - 1


def near_duplicates(hashes: list[int], max_distance: int) -> list[int | None]:
    """For each hash in order, the index of an earlier kept hash it duplicates (keep-first),
    or None when it is kept."""
    index = NearDuplicateIndex(max_distance)
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
