"""Metric names a user types (`fid2k`, `kid10k`, `tagfd2k`, `facerate1k`) and their computation.

Each metric is one function registered by name with `@register_metric` (as NVlabs'
metric_main does); adding a metric touches only this file. A name is `<metric><N>` or
`<metric><N>k`, parsed once into a MetricSpec: N generated images (seeds 0 ... N-1,
`G.sample` at the given psi, i.e. exactly the pixels PNGs would hold) against a seeded subset of
at most N real images (`max_real` overrides N). Several names evaluated together share one set
of generated images and features: pass them all to `compute_metrics`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.metrics.features import FeatureExtractor, InceptionFeatures
from waifugan.metrics.fid import fid_from_stats
from waifugan.metrics.kid import kernel_inception_distance
from waifugan.metrics.samples import (
    FACES,
    FEATURE_SPACES,
    INCEPTION,
    TAGGER,
    DatasetImages,
    GeneratedImages,
    ImageSet,
    count_needed,
)
from waifugan.metrics.tagger_features import TaggerFeatures

_NAME = re.compile(r"^([a-z]+?)(\d+)(k?)$")
MAX_IMAGES = 1_000_000  # a typo guard: 1000k is already far more than anyone evaluates


@dataclass(frozen=True)
class Metric:
    """A registered metric: what it reports, what it reads of each side, how it computes."""

    name: str  # the prefix of names users type, e.g. "fid"
    description: str  # shown by `waifugan metrics --help`
    uses: str  # a feature space ("inception", "tagger") or "faces" (the anime face detector)
    compute: Callable[[MetricSpec, ImageSet, ImageSet], dict[str, float]]


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str, description: str, uses: str
) -> Callable[[Callable[..., dict[str, float]]], Callable[..., dict[str, float]]]:
    """Decorator: register `fn(spec, candidate, reference) -> results` as metric `name`."""
    if uses not in (*FEATURE_SPACES, FACES):
        raise ValueError(
            f"metric {name!r}: uses={uses!r} is not one of {FEATURE_SPACES + (FACES,)}"
        )

    def register(fn: Callable[..., dict[str, float]]) -> Callable[..., dict[str, float]]:
        METRICS[name] = Metric(name, description, uses, fn)
        return fn

    return register


@dataclass(frozen=True)
class MetricSpec:
    """A parsed metric name: which metric, on how many generated images."""

    name: str  # canonical, e.g. "fid2k"
    metric: str  # key of METRICS
    num_images: int

    @property
    def uses(self) -> str:
        """What the metric reads of each side (a feature space or "faces")."""
        return METRICS[self.metric].uses


@register_metric("fid", "Fréchet Inception Distance (lower is better)", uses=INCEPTION)
def fid(spec: MetricSpec, candidate: ImageSet, reference: ImageSet) -> dict[str, float]:
    """FID of the candidate's N images against the reference's."""
    n = spec.num_images
    return {spec.name: fid_from_stats(candidate.feature_stats(n), reference.feature_stats(n))}


@register_metric(
    "kid", "Kernel Inception Distance, mean and std over subsets (lower is better)", INCEPTION
)
def kid(spec: MetricSpec, candidate: ImageSet, reference: ImageSet) -> dict[str, float]:
    """KID (mean, std over subsets) of the candidate's N images against the reference's."""
    n = spec.num_images
    mean, std = kernel_inception_distance(candidate.features(n), reference.features(n))
    return {f"{spec.name}_mean": mean, f"{spec.name}_std": std}


@register_metric(
    "tagfd", "Fréchet distance in tagger features, FID without ImageNet (lower is better)", TAGGER
)
def tagfd(spec: MetricSpec, candidate: ImageSet, reference: ImageSet) -> dict[str, float]:
    """FID's formula on the candidate's and the reference's tagger features (N images each)."""
    n = spec.num_images
    stats = [side.feature_stats(n, TAGGER) for side in (candidate, reference)]
    return {spec.name: fid_from_stats(*stats)}


@register_metric(
    "facerate",
    "share of images with exactly one anime face (higher is better; *_real = data)",
    uses=FACES,
)
def facerate(spec: MetricSpec, candidate: ImageSet, reference: ImageSet) -> dict[str, float]:
    """Face rate of the candidate, and of the reference as `<name>_real`."""
    n = spec.num_images
    return {spec.name: candidate.face_rate(n), f"{spec.name}_real": reference.face_rate(n)}


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


def evaluate_specs(
    specs: Sequence[MetricSpec], candidate: ImageSet, reference: ImageSet
) -> dict[str, float]:
    """Every spec's registered function on the two sides, results merged in spec order."""
    results: dict[str, float] = {}
    for spec in specs:
        results.update(METRICS[spec.metric].compute(spec, candidate, reference))
    return results


def make_extractors(
    specs: Sequence[MetricSpec],
    device: str | torch.device,
    *,
    batch_size: int = 64,
    extractor: FeatureExtractor | None = None,
    tagger: str | os.PathLike[str] | FeatureExtractor | None = None,
) -> dict[str, FeatureExtractor]:
    """An extractor for each feature space the specs use, and only those (Inception takes
    seconds to load): `extractor` or the standard Inception; `tagger` (a tagger file or an
    extractor) or the bundled model's tagger."""
    needs = count_needed(specs)
    extractors: dict[str, FeatureExtractor] = {}
    if needs.get(INCEPTION):
        extractors[INCEPTION] = extractor or InceptionFeatures(device, batch_size=batch_size)
    if needs.get(TAGGER):
        if tagger is None or isinstance(tagger, (str, os.PathLike)):
            tagger = TaggerFeatures(tagger, device, batch_size=batch_size)
        extractors[TAGGER] = tagger
    return extractors


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
    tagger: str | os.PathLike[str] | FeatureExtractor | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """Evaluate several metrics of generator G against dataset `data`, sharing generated
    images and features between them. Returns e.g. {"fid2k": 12.3, "kid2k_mean": ...}.
    `extractor` replaces Inception, `tagger` the bundled tagger (tagfd)."""
    specs = [parse_metric_name(n) for n in names]
    extractors = make_extractors(
        specs, device, batch_size=batch_size, extractor=extractor, tagger=tagger
    )
    candidate = GeneratedImages(G, psi, extractors, count_needed(specs), batch_size)
    reference = DatasetImages(data, extractors, G.img_resolution, max_real, cache_dir)
    return evaluate_specs(specs, candidate, reference)


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


def snapshot_evaluator(
    names: Sequence[str], data: str | os.PathLike[str]
) -> Callable[[Any], dict[str, float]]:
    """What training calls at snapshots: `evaluate(G_ema)` → the named metrics at ψ = 1, on
    G_ema's device. Names are checked now, so a typo stops the run before it starts."""
    checked = [parse_metric_name(name).name for name in names]

    def evaluate(G: Any) -> dict[str, float]:
        return compute_metrics(checked, G, data, G.device)

    return evaluate
