"""Content filters and duplicate detection."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.prepare.fixtures import art
from waifugan.prepare.dedup import NearDuplicateIndex, near_duplicates, phash, signature, thumb
from waifugan.prepare.filters import filter_reason, image_stats

THRESHOLDS = {"blank_std_max": 4.0, "gray_chroma_max": 6.0, "mono_spread_max": 0.015}


def _reason(rgb: np.ndarray) -> str | None:
    return filter_reason(image_stats(rgb), **THRESHOLDS)


def test_filters_keep_colour_art_and_drop_the_rest() -> None:
    colour = art(1)
    gray = np.asarray(Image.fromarray(colour).convert("L").convert("RGB"))
    sepia = (gray[..., :1].astype(np.float32) * np.array([1.0, 0.8, 0.55])).astype(np.uint8)
    blank = np.full((64, 64, 3), 128, np.uint8)
    blank[10, 10] = 0  # near-uniform, not exactly uniform
    assert _reason(colour) is None
    assert str(_reason(gray)).startswith("grayscale")
    assert str(_reason(sepia)).startswith("monochrome")
    assert str(_reason(blank)).startswith("blank")


def test_filters_can_be_switched_off() -> None:
    gray = np.asarray(Image.fromarray(art(2)).convert("L").convert("RGB"))
    stats = image_stats(gray)
    assert (
        filter_reason(stats, blank_std_max=4.0, gray_chroma_max=None, mono_spread_max=None) is None
    )


def _brute_force(hashes: list[int], distance: int) -> list[int | None]:
    kept: list[int] = []
    out: list[int | None] = []
    for i, h in enumerate(hashes):
        hit = next((k for k in kept if bin(h ^ hashes[k]).count("1") <= distance), None)
        out.append(hit)
        if hit is None:
            kept.append(i)
    return out


@pytest.mark.parametrize("scan_all_max", [0, 1 << 15], ids=["hash-index", "scan-all"])
def test_index_matches_brute_force(scan_all_max: int) -> None:
    rng = np.random.default_rng(0)
    base = [int(v) for v in rng.integers(0, 2**63, size=60, dtype=np.int64)]
    hashes = []
    for h in base:  # each base hash plus noisy copies 0..6 bits away
        hashes.append(h)
        for flips in rng.integers(0, 7, size=3):
            bits = rng.choice(64, size=int(flips), replace=False)
            hashes.append(h ^ sum(1 << int(b) for b in bits))
    for distance in (0, 2, 4, 6, 20):
        found = near_duplicates(hashes, distance, scan_all_max)
        assert found == _brute_force(hashes, distance)


def test_100k_hashes_dedup() -> None:
    # Its speed is bench_prepare's business: a time limit here failed on a busy machine.
    rng = np.random.default_rng(1)
    hashes = [int(v) for v in rng.integers(0, 2**63, size=100_000, dtype=np.int64)]
    hashes[50_000] = hashes[10] ^ 0b101  # one near duplicate, 2 bits away
    result = near_duplicates(hashes, 4)
    assert result[50_000] == 10
    assert sum(r is not None for r in result) == 1


def test_phash_sees_near_duplicates() -> None:
    img = art(3)
    brighter = np.clip(img.astype(int) + 4, 0, 255).astype(np.uint8)
    index = NearDuplicateIndex(4)
    index.add(phash(img))
    assert index.match(phash(brighter)) is not None
    assert index.match(phash(art(4))) is None


def test_thumbnail_check_keeps_distinct_faces_phash_cannot_tell(shared_dir: Path) -> None:
    with zipfile.ZipFile(shared_dir / "data" / "adventurer-train-128.zip") as archive:
        a, b = (
            np.asarray(Image.open(io.BytesIO(archive.read(f"train-{n:06d}.png"))).convert("RGB"))
            for n in (3, 27)
        )  # two different faces (other hair, background) 2 pHash bits apart
    assert bin(phash(a) ^ phash(b)).count("1") <= 4
    index = NearDuplicateIndex(4, max_diff=24.0)
    index.add(phash(a), thumb(a))
    assert index.match(phash(b), thumb(b)) is None
    brighter = np.clip(a.astype(int) + 5, 0, 255).astype(np.uint8)
    assert index.match(phash(brighter), thumb(brighter)) is not None


def test_phash_is_imagehash_phash_of_the_signature(shared_dir: Path) -> None:
    import cv2
    import imagehash

    with zipfile.ZipFile(shared_dir / "data" / "adventurer-train-128.zip") as archive:
        faces = [
            np.asarray(Image.open(io.BytesIO(archive.read(f"train-{n:06d}.png"))).convert("RGB"))
            for n in range(0, 400, 4)
        ]
    images = [art(seed, size=64) for seed in range(20)] + faces
    for img in images:
        gray = cv2.cvtColor(signature(img), cv2.COLOR_RGB2GRAY)
        assert phash(img) == int(str(imagehash.phash(Image.fromarray(gray))), 16)


def test_thumbs_within_is_the_99th_percentile_rule() -> None:
    from waifugan.prepare.dedup import THUMB_BYTES, thumbs_within

    rng = np.random.default_rng(3)
    query = rng.integers(0, 256, THUMB_BYTES, dtype=np.uint8)
    # Near copies with 0-20 bytes far off: the decision flips around 8 outliers.
    thumbs = np.repeat(query[None], 40, axis=0)
    for row, outliers in enumerate(rng.integers(0, 21, 40)):
        noise = rng.integers(-10, 11, THUMB_BYTES)
        far = rng.choice(THUMB_BYTES, int(outliers), replace=False)
        noise[far] = 120
        thumbs[row] = np.clip(query.astype(int) + noise, 0, 255)
    diff = np.abs(thumbs.astype(int) - query.astype(int))
    expected = np.percentile(diff, 99, axis=1, method="lower") <= 24.0
    assert expected.any() and not expected.all()
    assert (thumbs_within(thumbs, query, 24.0) == expected).all()
