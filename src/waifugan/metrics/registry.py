"""Metric names a user types (`fid2k`, `kid10k`, `facerate1k`, `fid500`) and their computation.

A name is `<metric><N>` or `<metric><N>k`: N generated images (seeds 0 ... N-1, `G.sample` at
the given psi, i.e. exactly the pixels PNGs would hold) against a seeded subset of at most N real
images (`max_real` overrides N). Several names evaluated together share one set of generated
images and features: pass them all to `compute_metrics`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from waifugan.assets import cache_dir as assets_cache_dir
from waifugan.errors import WaifuganError
from waifugan.metrics.face_rate import (
    DETECT_SIDE_PX,
    MIN_FACE_FRACTION,
    anime_face_rate,
    count_faces,
)
from waifugan.metrics.features import FeatureExtractor, InceptionFeatures
from waifugan.metrics.fid import fid_from_stats
from waifugan.metrics.kid import kernel_inception_distance
from waifugan.metrics.stats import (
    FeatureStats,
    dataset_fingerprint,
    iter_dataset_batches,
    open_dataset,
    real_stats,
    select_indices,
)

# metric -> what it reports (shown by `waifugan metrics --help`)
METRICS = {
    "fid": "Fréchet Inception Distance (lower is better)",
    "kid": "Kernel Inception Distance, mean and std over subsets (lower is better)",
    "facerate": "share of images with exactly one anime face (higher is better; *_real = data)",
}
_NAME = re.compile(r"^([a-z]+?)(\d+)(k?)$")
MAX_IMAGES = 1_000_000  # a typo guard: 1000k is already far more than anyone evaluates


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: which metric, on how many generated images."""

    name: str  # canonical, e.g. "fid2k"
    metric: str  # key of METRICS
    num_images: int


def parse_metric_name(name: str, default_num: int | None = None) -> MetricSpec:
    """Parse "fid2k" / "fid500" (or "fid" when `default_num` is given) into a MetricSpec."""
    text = name.strip().lower()
    if default_num is not None and text in METRICS:
        text = (
            f"{text}{default_num // 1000}k" if default_num % 1000 == 0 else f"{text}{default_num}"
        )
    match = _NAME.match(text)
    if match is None or match[1] not in METRICS:
        known = ", ".join(f"{m}<N>[k]" for m in METRICS)
        raise WaifuganError(f"unknown metric {name!r}; expected one of {known}, e.g. fid2k")
    num = int(match[2]) * (1000 if match[3] else 1)
    if not 2 <= num <= MAX_IMAGES:
        raise WaifuganError(f"metric {name!r}: image count {num} is not in 2 ... {MAX_IMAGES}")
    return MetricSpec(text, match[1], num)


def parse_metric_names(text: str, default_num: int | None = None) -> list[str]:
    """Validate a comma-separated list like "fid2k,kid2k" into canonical names (deduplicated)."""
    names: list[str] = []
    for part in text.split(","):
        if part.strip():
            spec = parse_metric_name(part, default_num)
            if spec.name not in names:
                names.append(spec.name)
    if not names:
        raise WaifuganError(f"no metric names in {text!r}")
    return names


def generated_images(G: Any, num_images: int, psi: float, batch_size: int) -> Any:
    """Yield uint8 batches [B, H, W, 3] for seeds 0 ... num_images - 1, as saved PNGs hold."""
    for start in range(0, num_images, batch_size):
        seeds = list(range(start, min(start + batch_size, num_images)))
        yield G.sample(seeds, psi=psi, batch_size=batch_size)


def _fake_features_and_faces(
    G: Any, specs: Sequence[MetricSpec], psi: float, extractor: FeatureExtractor
) -> tuple[np.ndarray, list[int]]:
    """Features of the first N_feat generated images and face counts of the first N_face."""
    num_feat = max((s.num_images for s in specs if s.metric != "facerate"), default=0)
    num_face = max((s.num_images for s in specs if s.metric == "facerate"), default=0)
    total = max(num_feat, num_face)
    features: list[np.ndarray] = []
    faces: list[int] = []
    done = 0
    with tqdm(total=total, desc=f"generated images psi={psi}", unit="img", leave=False) as bar:
        for batch in generated_images(G, total, psi, extractor.batch_size):
            if done < num_feat:
                features.append(extractor(batch[: num_feat - done]))
            faces.extend(count_faces(image) for image in batch[: max(num_face - done, 0)])
            done += len(batch)
            bar.update(len(batch))
    feats = np.concatenate(features) if features else np.empty((0, 0), np.float32)
    return feats, faces


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


def _results(
    spec: MetricSpec, fake: np.ndarray, faces: list[int], real: FeatureStats | None
) -> dict[str, float]:
    if spec.metric == "facerate":
        counts = faces[: spec.num_images]
        return {spec.name: sum(c == 1 for c in counts) / len(counts)}
    assert real is not None
    fake_n = fake[: spec.num_images]
    if spec.metric == "fid":
        return {spec.name: fid_from_stats(FeatureStats.from_features(fake_n), real)}
    mean, std = kernel_inception_distance(fake_n, real.features)
    return {f"{spec.name}_mean": mean, f"{spec.name}_std": std}


def compute_metrics(
    names: Sequence[str],
    G: Any,
    data: str | os.PathLike[str],
    device: str | torch.device,
    *,
    psi: float = 1.0,
    cache_dir: str | os.PathLike[str] | None = None,
    max_real: int | None = None,
    extractor: FeatureExtractor | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Evaluate several metrics of generator G against dataset `data`, sharing generated
    images and features between them. Returns e.g. {"fid2k": 12.3, "kid2k_mean": ...}."""
    specs = [parse_metric_name(n) for n in names]
    needs_features = any(s.metric != "facerate" for s in specs)
    if extractor is None and needs_features:
        extractor = InceptionFeatures(device, batch_size=batch_size)
    feeder: FeatureExtractor = extractor if extractor is not None else _NoFeatures(batch_size)
    fake, faces = _fake_features_and_faces(G, specs, psi, feeder)
    results: dict[str, float] = {}
    for spec in specs:
        n_real = max_real or spec.num_images
        if spec.metric == "facerate":
            results.update(_results(spec, fake, faces, None))
            rate = real_face_rate(data, n_real, G.img_resolution, cache_dir)
            results[f"{spec.name}_real"] = rate
        else:
            real = real_stats(
                data, feeder, resolution=G.img_resolution, max_real=n_real, cache_dir=cache_dir
            )
            results.update(_results(spec, fake, faces, real))
    return results


def compute_metric(
    name: str,
    G: Any,
    data: str | os.PathLike[str],
    device: str | torch.device,
    *,
    psi: float = 1.0,
    cache_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> dict[str, float]:
    """Evaluate one metric, e.g. compute_metric("fid2k", G_ema, "data.zip", "cpu")."""
    return compute_metrics([name], G, data, device, psi=psi, cache_dir=cache_dir, **options)


class _NoFeatures:
    """Stand-in extractor when only the face rate is asked for (no Inception load)."""

    identity = "none"

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def __call__(self, images: np.ndarray) -> np.ndarray:
        raise AssertionError("features requested without an extractor")
