"""The two sides of a metric: images a generator draws and images of a dataset.

Both answer the same questions for a metric spec (features of its N images in a named feature
space, and the share of them with exactly one face), so every registered metric is written once
and compares a generator with a dataset or one dataset with another alike.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from waifugan.assets import cache_dir as assets_cache_dir
from waifugan.errors import WaifuganError
from waifugan.metrics.face_rate import (
    DETECT_SIDE_PX,
    MIN_FACE_FRACTION,
    anime_face_rate,
    count_faces,
)
from waifugan.metrics.features import FeatureExtractor
from waifugan.metrics.stats import (
    FeatureStats,
    dataset_fingerprint,
    iter_dataset_batches,
    open_dataset,
    real_stats,
    select_indices,
)

# What a metric reads of each side (`Metric.uses`): features in one of two spaces, or faces.
INCEPTION = "inception"  # Inception-v3 pool features (FID, KID)
TAGGER = "tagger"  # the tagger's pooled features (tagfd): a space never trained on ImageNet
FACES = "faces"  # anime face counts (the face rate)
FEATURE_SPACES = (INCEPTION, TAGGER)


class ImageSet(Protocol):
    """What a metric reads of one side: features and the face rate of its first N images."""

    def features(self, num_images: int, space: str = INCEPTION) -> np.ndarray: ...  # [N, D]

    def feature_stats(self, num_images: int, space: str = INCEPTION) -> FeatureStats: ...

    def face_rate(self, num_images: int) -> float: ...


def generated_images(G: Any, num_images: int, psi: float, batch_size: int) -> Iterator[Any]:
    """Yield uint8 batches [B, H, W, 3] for seeds 0 ... num_images - 1, as saved PNGs hold."""
    for start in range(0, num_images, batch_size):
        seeds = list(range(start, min(start + batch_size, num_images)))
        yield G.sample(seeds, psi=psi, batch_size=batch_size)


def _extractor(extractors: Mapping[str, FeatureExtractor], space: str) -> FeatureExtractor:
    """The extractor of `space`, or an error saying the evaluation was not set up for it."""
    if space not in extractors:
        raise WaifuganError(f"features in space {space!r} were not prepared for this evaluation")
    return extractors[space]


class GeneratedImages:
    """Seeds 0 ... N-1 of G at ψ, drawn once for every metric evaluated together.

    One pass computes, for each feature space in `needs`, features of the first N images it
    asks for, and face counts of the first `needs["faces"]`: fid2k, kid2k and tagfd2k share 2000
    generated images, and fid2k and kid2k one Inception pass.
    """

    def __init__(
        self,
        G: Any,
        psi: float,
        extractors: Mapping[str, FeatureExtractor],
        needs: Mapping[str, int],
        batch_size: int = 64,
    ) -> None:
        counts = {space: n for space, n in needs.items() if n > 0}
        total = max(counts.values(), default=0)
        parts: dict[str, list[np.ndarray]] = {s: [] for s in counts if s != FACES}
        self._faces: list[int] = []
        done = 0
        with tqdm(total=total, desc=f"generated images psi={psi}", unit="img", leave=False) as bar:
            for batch in generated_images(G, total, psi, batch_size):
                for space, found in parts.items():
                    if done < counts[space]:
                        found.append(_extractor(extractors, space)(batch[: counts[space] - done]))
                wanted = max(counts.get(FACES, 0) - done, 0)
                self._faces.extend(count_faces(x) for x in batch[:wanted])
                done += len(batch)
                bar.update(len(batch))
        self._features = {space: np.concatenate(found) for space, found in parts.items()}

    def features(self, num_images: int, space: str = INCEPTION) -> np.ndarray:
        """Features of seeds 0 ... num_images - 1 in `space`."""
        if space not in self._features:
            raise WaifuganError(f"features in space {space!r} were not computed for these images")
        return self._features[space][:num_images]

    def feature_stats(self, num_images: int, space: str = INCEPTION) -> FeatureStats:
        """Mean and covariance of those features."""
        return FeatureStats.from_features(self.features(num_images, space))

    def face_rate(self, num_images: int) -> float:
        """Share of seeds 0 ... num_images - 1 with exactly one face."""
        counts = self._faces[:num_images]
        return sum(c == 1 for c in counts) / len(counts)


class DatasetImages:
    """A seeded subset of a dataset (at most `max_real` images, else the metric's N), at
    `resolution`; statistics and face rates are cached by the dataset's content."""

    def __init__(
        self,
        data: str | os.PathLike[str],
        extractors: Mapping[str, FeatureExtractor],  # by space; empty: only face rates
        resolution: int | None,
        max_real: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data = data
        self.extractors = extractors
        self.resolution = resolution
        self.max_real = max_real
        self.cache_dir = cache_dir

    def feature_stats(self, num_images: int, space: str = INCEPTION) -> FeatureStats:
        """Cached statistics of the subset in `space`."""
        n = self.max_real or num_images
        return real_stats(
            self.data, _extractor(self.extractors, space), resolution=self.resolution,
            max_real=n, cache_dir=self.cache_dir,
        )  # fmt: skip

    def features(self, num_images: int, space: str = INCEPTION) -> np.ndarray:
        """Features of the subset in `space`."""
        return self.feature_stats(num_images, space).features

    def face_rate(self, num_images: int) -> float:
        """Cached face rate of the subset."""
        n = self.max_real or num_images
        return real_face_rate(self.data, n, self.resolution, self.cache_dir)


def real_face_rate(
    data: str | os.PathLike[str],
    num_images: int,
    resolution: int | None,
    cache_dir: str | os.PathLike[str] | None = None,
    seed: int = 0,
) -> float:
    """Face rate of a seeded subset of a dataset (the reference for a model's), cached."""
    detection = ["facerate-v1", DETECT_SIDE_PX, MIN_FACE_FRACTION]
    options = [dataset_fingerprint(data), num_images, resolution, seed, *detection]
    key = hashlib.sha256(json.dumps(options).encode()).hexdigest()[:24]
    folder = Path(cache_dir) if cache_dir is not None else assets_cache_dir() / "metrics"
    path = folder / f"facerate-{Path(data).stem}-{key}.json"
    if path.is_file():
        return float(json.loads(path.read_text())["face_rate"])
    dataset = open_dataset(data, resolution)
    indices = select_indices(len(dataset), num_images, seed)
    batch_size = 64
    batches = iter_dataset_batches(dataset, indices, batch_size, resolution)
    num_batches = -(-len(indices) // batch_size)
    progress = tqdm(batches, total=num_batches, desc="real faces", unit="batch", leave=False)
    rate = anime_face_rate(progress)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"face_rate": rate, "options": options}))
    return rate


def count_needed(specs: Sequence[Any]) -> dict[str, int]:
    """The most images any of specs needs of each kind it uses (a feature space or faces)."""
    needs: dict[str, int] = {}
    for spec in specs:
        needs[spec.uses] = max(needs.get(spec.uses, 0), spec.num_images)
    return needs
