"""Feature statistics (features, mean, covariance) and the on-disk cache of real-data statistics.

Real statistics are the expensive half of FID on a CPU (Inception at ~5 images/s), so they are
cached under a key derived from the dataset's content and every option that changes them:
the second evaluation against the same dataset costs one file read. Long extractions save
partial features every few batches and resume from them after an interruption.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from tqdm import tqdm

from waifugan.assets import cache_dir as assets_cache_dir
from waifugan.errors import WaifuganError
from waifugan.metrics.features import FeatureExtractor

if TYPE_CHECKING:
    from waifugan.data.dataset import ImageDataset

CACHE_VERSION = 1  # bump when the way statistics are computed changes
PARTIAL_EVERY_IMAGES = 256  # how often a long extraction saves its progress (~1 min on CPU)


@dataclass(frozen=True)
class FeatureStats:
    """Features of one image set and their first two moments."""

    features: np.ndarray  # [N, D] float32
    mean: np.ndarray  # [D] float64
    cov: np.ndarray  # [D, D] float64, unbiased (N - 1)

    @property
    def num_images(self) -> int:
        """How many images the statistics describe."""
        return int(self.features.shape[0])

    @classmethod
    def from_features(cls, features: np.ndarray) -> FeatureStats:
        """Mean and covariance of features [N, D], computed in float64."""
        if features.ndim != 2 or features.shape[0] < 2:
            raise WaifuganError(
                f"statistics need at least 2 feature vectors, got shape {list(features.shape)}"
            )
        x = features.astype(np.float64)
        mean = x.mean(axis=0)
        centred = x - mean
        cov = centred.T @ centred / (x.shape[0] - 1)
        return cls(features.astype(np.float32), mean, cov)

    def save(self, path: Path, options: dict[str, object]) -> None:
        """Write atomically to an .npz (plain arrays, loadable without pickle)."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")  # one per process
        np.savez(tmp, features=self.features, mean=self.mean, cov=self.cov,
                 options=np.array(json.dumps(options, sort_keys=True)))  # fmt: skip
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> FeatureStats:
        """Read statistics written by `save`; an unreadable or inconsistent file raises
        WaifuganError naming it."""
        try:
            with np.load(path, allow_pickle=False) as data:
                features, mean, cov = data["features"], data["mean"], data["cov"]
        except Exception as error:  # a damaged zip fails in many ways (BadZipFile, KeyError, ...)
            raise WaifuganError(f"{path}: unreadable statistics ({error})") from error
        dims = features.shape[1] if features.ndim == 2 else -1
        if mean.shape != (dims,) or cov.shape != (dims, dims) or features.shape[0] < 2:
            raise WaifuganError(
                f"{path}: inconsistent statistics (features {features.shape}, mean "
                f"{mean.shape}, cov {cov.shape})"
            )
        return cls(features, mean, cov)


def dataset_fingerprint(data: str | os.PathLike[str]) -> str:
    """SHA-256 over a dataset's content: a zip's member names, sizes and CRC-32s, or every
    byte of every file in a folder."""
    path = Path(data)
    digest = hashlib.sha256()
    if path.is_file():
        try:
            with zipfile.ZipFile(path) as archive:
                # The central directory already holds a CRC-32 of each member's content.
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    digest.update(f"{info.filename}\0{info.file_size}\0{info.CRC}\n".encode())
        except zipfile.BadZipFile as error:
            raise WaifuganError(f"{path}: not a zip dataset ({error})") from error
    elif path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"{file.relative_to(path).as_posix()}\0".encode())
            with open(file, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    else:
        raise WaifuganError(f"{path}: no such dataset (expected a zip or a folder of images)")
    return digest.hexdigest()


def select_indices(num_total: int, max_real: int | None, seed: int = 0) -> np.ndarray:
    """All indices, or a seeded random subset of `max_real` of them (sorted)."""
    if max_real is not None and max_real < 1:
        raise WaifuganError(f"--max-real must be >= 1, got {max_real}")
    if max_real is None or max_real >= num_total:
        return np.arange(num_total)
    rng = np.random.RandomState(seed)
    return np.sort(rng.choice(num_total, size=max_real, replace=False))


def _resize(image_chw: np.ndarray, resolution: int | None) -> np.ndarray:
    """uint8 [3, H, W] -> uint8 [H, W, 3], Lanczos-downscaled to `resolution` if given."""
    hwc = np.ascontiguousarray(image_chw.transpose(1, 2, 0))
    if resolution is None or hwc.shape[0] == resolution:
        return hwc
    size = (resolution, resolution)
    return np.asarray(Image.fromarray(hwc).resize(size, Image.Resampling.LANCZOS))


def iter_dataset_batches(
    dataset: ImageDataset, indices: np.ndarray, batch_size: int, resolution: int | None
) -> Iterator[np.ndarray]:
    """Yield uint8 batches [B, H, W, 3] of dataset[indices], resized to `resolution`."""
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        yield np.stack([_resize(dataset[int(i)], resolution) for i in chunk])


def open_dataset(data: str | os.PathLike[str], resolution: int | None) -> ImageDataset:
    """Open an ImageDataset and check it can be compared at `resolution`."""
    from waifugan.data.dataset import ImageDataset

    dataset = ImageDataset(data)
    if resolution is not None and dataset.resolution < resolution:
        raise WaifuganError(
            f"{data}: images are {dataset.resolution} px, below the model's {resolution} px; "
            "compare against a dataset at (or above) the model's resolution"
        )
    return dataset


def extract_with_resume(
    batches: Iterator[np.ndarray],
    extractor: FeatureExtractor,
    total: int,
    partial_path: Path | None = None,
    desc: str = "features",
) -> np.ndarray:
    """Features of every batch, saving progress to `partial_path` and resuming from it."""
    done: list[np.ndarray] = []
    num_done = 0
    if partial_path is not None and partial_path.is_file():
        try:
            with np.load(partial_path, allow_pickle=False) as data:
                done.append(np.asarray(data["features"], np.float32))
            num_done = len(done[0])
        except Exception as error:  # damaged progress: start over rather than stop
            print(f"warning: {partial_path}: unreadable ({error}); starting over", file=sys.stderr)
            done, num_done = [], 0
    last_saved = num_done
    with tqdm(total=total, initial=num_done, desc=desc, unit="img", leave=False) as bar:
        seen = 0
        for batch in batches:
            seen += len(batch)
            if seen <= num_done:  # already extracted before the interruption
                continue
            done.append(extractor(batch))
            num_done = seen
            bar.update(len(batch))
            if partial_path is not None and num_done - last_saved >= PARTIAL_EVERY_IMAGES:
                tmp = partial_path.with_name(f".{partial_path.name}.{os.getpid()}.tmp.npz")
                np.savez(tmp, features=np.concatenate(done))
                os.replace(tmp, partial_path)
                last_saved = num_done
    return np.concatenate(done) if done else np.empty((0, 0), np.float32)


def real_stats(
    data: str | os.PathLike[str],
    extractor: FeatureExtractor,
    *,
    resolution: int | None = None,
    max_real: int | None = None,
    seed: int = 0,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FeatureStats:
    """Statistics of a dataset's images, from the cache when the same content and options
    were evaluated before.

    Args:
        data: zip or folder readable by waifugan.data.dataset.ImageDataset.
        extractor: e.g. InceptionFeatures; its `identity` is part of the cache key.
        resolution: Lanczos-downscale the images to this side first (the model's resolution).
        max_real: use a seeded random subset of at most this many images.
        cache_dir: where statistics are kept (default `$WAIFUGAN_CACHE/metrics`).
    """
    options: dict[str, object] = {
        "version": CACHE_VERSION,
        "dataset": dataset_fingerprint(data),
        "features": extractor.identity,
        "resolution": resolution,
        "max_real": max_real,
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:24]
    folder = Path(cache_dir) if cache_dir is not None else assets_cache_dir() / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"real-{Path(data).stem}-{key}.npz"
    if path.is_file():
        try:
            return FeatureStats.load(path)
        except WaifuganError as error:  # a cache is derived data: compute it again
            print(f"warning: {error}; computing them again", file=sys.stderr)
            path.unlink(missing_ok=True)
    dataset = open_dataset(data, resolution)
    indices = select_indices(len(dataset), max_real, seed)
    partial = path.with_suffix(".partial.npz")
    batches = iter_dataset_batches(dataset, indices, extractor.batch_size, resolution)
    features = extract_with_resume(
        batches, extractor, len(indices), partial, desc=f"real features {Path(data).name}"
    )
    stats = FeatureStats.from_features(features)
    stats.save(path, options)
    partial.unlink(missing_ok=True)
    return stats
