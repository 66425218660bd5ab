"""A dataset's images with their Danbooru-style tags, for training the tagger.

Images come from a dataset (zip or folder, read by `data.ImageDataset`); tags from Danbooru
metadata JSON lines (read by `prepare.metadata`, so the same files `waifugan prepare --metadata`
takes work here, including a zip that carries its `*.jsonl` inside). An image's Danbooru id is
found, in this order: the `danbooru_id` its `manifest.jsonl` line records (datasets written by
`waifugan prepare --metadata`), the stem of the source file the manifest names, the image's own
file stem (`train-000123.png` → `train-000123`).
"""

from __future__ import annotations

import fnmatch
import io
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import orjson
import torch
from tqdm import tqdm

from waifugan.data.dataset import ImageDataset
from waifugan.errors import WaifuganError
from waifugan.networks.tagger import to_tagger_input
from waifugan.prepare.metadata import Selection, iter_metadata
from waifugan.prepare.sources import Reject


@dataclass
class LabelledImages:
    """Images and their tags as a multi-hot matrix."""

    images: np.ndarray  # [N, 3, R, R] uint8
    labels: np.ndarray  # [N, T] float32 in {0, 1}
    tags: tuple[str, ...]  # column names of labels
    ids: list[str]  # Danbooru id of each image
    unmatched: int  # dataset images with no metadata record (left out)


def read_tag_sets(files: Sequence[str]) -> dict[str, frozenset[str]]:
    """Danbooru id → its tags, from JSON-lines files (or zips with *.jsonl inside).
    Malformed lines are skipped; if every line is malformed the files are refused."""
    tag_sets: dict[str, frozenset[str]] = {}
    bad: list[Reject] = []
    for entry in iter_metadata(tuple(files), Selection()):
        if isinstance(entry, Reject):
            bad.append(entry)
        else:
            tag_sets[entry["id"]] = frozenset(entry["tags"])
    if not tag_sets:
        detail = f"; first problem: {bad[0].key}: {bad[0].reason}" if bad else ""
        raise WaifuganError(f"{', '.join(files)}: no metadata records with an id{detail}")
    return tag_sets


def _read_member(source: Path, name: str) -> bytes | None:
    try:
        if source.is_dir():
            path = source / name
            return path.read_bytes() if path.is_file() else None
        with zipfile.ZipFile(source) as archive:
            return archive.read(name) if name in archive.namelist() else None
    except (OSError, zipfile.BadZipFile, KeyError):
        return None


def image_ids(dataset: ImageDataset) -> list[str]:
    """The Danbooru id of each dataset image (see the module docstring for the rule)."""
    by_name: dict[str, str] = {}
    manifest = _read_member(dataset.source, "manifest.jsonl")
    for line in io.BytesIO(manifest or b""):
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(row, dict) or "name" not in row:
            continue
        if row.get("danbooru_id") is not None:
            by_name[str(row["name"])] = str(row["danbooru_id"])
        elif isinstance(row.get("source"), str):  # "path" or "archive.zip::member"
            by_name[str(row["name"])] = PurePosixPath(row["source"].split("::")[-1]).stem
    return [by_name.get(name, PurePosixPath(name).stem) for name in dataset.names]


def choose_tags(
    tag_sets: Iterable[frozenset[str]],
    min_count: int,
    exclude: Sequence[str] = (),
    max_tags: int = 128,
) -> tuple[str, ...]:
    """Tags worth learning: seen at least min_count times, not matching an `exclude` glob
    (e.g. `*_variant*`), the max_tags most frequent; ordered by frequency, then name."""
    counts = Counter(tag for tags in tag_sets for tag in tags)
    kept = [
        (tag, n)
        for tag, n in counts.items()
        if n >= min_count and not any(fnmatch.fnmatchcase(tag, pattern) for pattern in exclude)
    ]
    kept.sort(key=lambda item: (-item[1], item[0]))
    return tuple(tag for tag, _ in kept[:max_tags])


def load_labelled(
    data: str,
    metadata: Sequence[str],
    resolution: int,
    min_count: int,
    exclude: Sequence[str] = (),
    max_tags: int = 128,
    max_images: int | None = None,
) -> LabelledImages:
    """Images of `data` that have a metadata record, resized to resolution, with their tags.

    Args:
        data: dataset zip or folder.
        metadata: JSON-lines files (or zips holding *.jsonl); empty: `data` itself.
        resolution: side the tagger sees (area-averaged down, bilinear up).
        min_count, exclude, max_tags: which tags to learn (see choose_tags).
        max_images: use only the first N matched images (tests, quick runs).
    """
    dataset = ImageDataset(data)
    tag_sets = read_tag_sets(list(metadata) or [data])
    ids = image_ids(dataset)
    matched = [i for i, ident in enumerate(ids) if ident in tag_sets]
    if not matched:
        raise WaifuganError(
            f"{data}: no image matches a metadata record (ids like {ids[0]!r} were looked up; "
            "an image's id is its manifest danbooru_id or its file stem)"
        )
    unmatched = len(ids) - len(matched)
    matched = matched[:max_images] if max_images else matched
    tags = choose_tags([tag_sets[ids[i]] for i in matched], min_count, exclude, max_tags)
    if not tags:
        raise WaifuganError(
            f"{data}: no tag appears in at least {min_count} of the {len(matched)} labelled "
            "images (lower --min-count or loosen --exclude-tags)"
        )
    column = {tag: j for j, tag in enumerate(tags)}
    images = np.empty((len(matched), 3, resolution, resolution), dtype=np.uint8)
    labels = np.zeros((len(matched), len(tags)), dtype=np.float32)
    for row, index in enumerate(tqdm(matched, desc="reading images", unit="img", leave=False)):
        image = torch.from_numpy(dataset[index])[None]  # [1, 3, H, W] uint8
        resized = to_tagger_input(image, resolution)  # [-1, 1]
        images[row] = ((resized[0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
        for tag in tag_sets[ids[index]]:
            if tag in column:
                labels[row, column[tag]] = 1.0
    return LabelledImages(images, labels, tags, [ids[i] for i in matched], unmatched)
