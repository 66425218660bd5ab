"""The two sides of a metric: images a generator draws and images of a dataset.

Both answer the same two questions for a metric spec (features of its N images, and the share
of them with exactly one face), so every registered metric is written once and compares a
generator with a dataset or one dataset with another alike.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from waifugan.assets import cache_dir as assets_cache_dir
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


class ImageSet(Protocol):
    """What a metric reads of one side: features and the face rate of its first N images."""

    def features(self, num_images: int) -> np.ndarray: ...  # [N, D] float32

    def feature_stats(self, num_images: int) -> FeatureStats: ...

    def face_rate(self, num_images: int) -> float: ...


def generated_images(G: Any, num_images: int, psi: float, batch_size: int) -> Iterator[Any]:
    """Yield uint8 batches [B, H, W, 3] for seeds 0 ... num_images - 1, as saved PNGs hold."""
    for start in range(0, num_images, batch_size):
        seeds = list(range(start, min(start + batch_size, num_images)))
        yield G.sample(seeds, psi=psi, batch_size=batch_size)


class GeneratedImages:
    """Seeds 0 ... N-1 of G at ψ, drawn once for every metric evaluated together.

    One pass computes features of the first `num_features` images and face counts of the first
    `num_faces`, so fid2k and kid2k share 2000 generated images and one Inception pass.
    """

    def __init__(
        self, G: Any, psi: float, extractor: FeatureExtractor, num_features: int, num_faces: int
    ) -> None:
        total = max(num_features, num_faces)
        features: list[np.ndarray] = []
        self._faces: list[int] = []
        done = 0
        with tqdm(total=total, desc=f"generated images psi={psi}", unit="img", leave=False) as bar:
            for batch in generated_images(G, total, psi, extractor.batch_size):
                if done < num_features:
                    features.append(extractor(batch[: num_features - done]))
                self._faces.extend(count_faces(x) for x in batch[: max(num_faces - done, 0)])
                done += len(batch)
                bar.update(len(batch))
        self._features = np.concatenate(features) if features else np.empty((0, 0), np.float32)

    def features(self, num_images: int) -> np.ndarray:
        """Features of seeds 0 ... num_images - 1."""
        return self._features[:num_images]

    def feature_stats(self, num_images: int) -> FeatureStats:
        """Mean and covariance of those features."""
        return FeatureStats.from_features(self.features(num_images))

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
        extractor: FeatureExtractor | None,  # None: only face rates will be asked for
        resolution: int | None,
        max_real: int | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.data = data
        self.extractor = extractor
        self.resolution = resolution
        self.max_real = max_real
        self.cache_dir = cache_dir

    def feature_stats(self, num_images: int) -> FeatureStats:
        """Cached statistics of the subset."""
        n = self.max_real or num_images
        assert self.extractor is not None, "features asked of a DatasetImages without extractor"
        return real_stats(
            self.data, self.extractor, resolution=self.resolution, max_real=n,
            cache_dir=self.cache_dir,
        )  # fmt: skip

    def features(self, num_images: int) -> np.ndarray:
        """Features of the subset."""
        return self.feature_stats(num_images).features

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


def count_needed(specs: Sequence[Any], uses: str) -> int:
    """The most images any of specs needs for `uses` ("features" or "faces"), 0 if none."""
    return max((s.num_images for s in specs if s.uses == uses), default=0)
