"""A metric is one registered function: a new one works everywhere names are accepted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import waifugan.metrics.registry as registry
from tests.tiny import tiny_G
from waifugan.metrics.registry import compute_metrics, parse_metric_names, register_metric

from .conftest import CountingExtractor, write_zip_dataset


def test_a_registered_metric_is_parsed_and_computed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))

    @register_metric("meandiff", "distance of the mean features (test metric)", uses="inception")
    def meandiff(spec, candidate, reference):
        n = spec.num_images
        gap = candidate.features(n).mean(axis=0) - reference.features(n).mean(axis=0)
        return {spec.name: float(np.abs(gap).sum())}

    assert parse_metric_names("meandiff8,fid8") == ["meandiff8", "fid8"]
    G = tiny_G(16)
    own = write_zip_dataset(tmp_path / "own.zip", G.sample(list(range(8)), psi=1.0))
    extractor = CountingExtractor()
    results = compute_metrics(["meandiff8", "fid8"], G, own, "cpu", cache_dir=tmp_path,
                              extractor=extractor)  # fmt: skip
    assert results["meandiff8"] == pytest.approx(0.0, abs=1e-6)  # the same images on both sides
    assert results["fid8"] == pytest.approx(0.0, abs=1e-6)
    assert extractor.num_images == 8 + 8  # one pass over the fakes shared by both metrics
