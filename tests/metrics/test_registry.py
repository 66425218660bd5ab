"""Metric names and compute_metric(s) on a tiny generator with a cheap extractor."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tiny import tiny_G
from waifugan.errors import WaifuganError
from waifugan.metrics.registry import (
    compute_metric,
    compute_metrics,
    parse_metric_name,
    parse_metric_names,
)

from .conftest import CountingExtractor, random_images, write_zip_dataset


def test_names_encode_the_sample_count() -> None:
    assert parse_metric_names("fid2k,kid2k") == ["fid2k", "kid2k"]
    assert parse_metric_name("fid10k").num_images == 10_000
    assert parse_metric_name("FID500").num_images == 500
    assert parse_metric_name("facerate1k").metric == "facerate"
    assert parse_metric_names("fid, kid,fid2k", default_num=2000) == ["fid2k", "kid2k"]
    assert parse_metric_names("fid", default_num=500) == ["fid500"]


@pytest.mark.parametrize("bad", ["fib2k", "fid", "fid2m", "kid1", "fid0k", "2kfid", ""])
def test_bad_names_are_refused_with_the_name(bad: str) -> None:
    with pytest.raises(WaifuganError, match="metric"):
        parse_metric_names(bad)


def test_generated_images_are_seeds_0_to_n_at_psi(tmp_path: Path) -> None:
    # A "dataset" made of the generator's own images for seeds 0..9 at psi=1: FID and KID of the
    # generator against it are 0, so fakes are exactly those seeds, quantized as PNGs hold them.
    G = tiny_G(16)
    data = write_zip_dataset(tmp_path / "own.zip", G.sample(list(range(10)), psi=1.0))
    extractor = CountingExtractor()
    results = compute_metrics(
        ["fid10", "kid10"], G, data, "cpu", cache_dir=tmp_path, extractor=extractor
    )
    assert results["fid10"] == pytest.approx(0.0, abs=1e-6)
    # Same set on both sides: the unbiased MMD² is <= 0 (its cross term includes k(x_i, x_i)).
    assert results["kid10_mean"] <= 0.0
    assert extractor.num_images == 10 + 10  # fakes once for both metrics, reals once (cached)
    truncated = compute_metric("fid10", G, data, "cpu", psi=0.5, cache_dir=tmp_path,
                               extractor=extractor)  # fmt: skip
    assert truncated["fid10"] > 1e-4
    assert extractor.num_images == 30  # real statistics came from the cache


def test_results_against_other_data_and_face_rate(tmp_path: Path, assets_dir: Path) -> None:
    pytest.importorskip("waifugan.prepare.faces", reason="face detector (prepare) not present")
    G = tiny_G(16)
    data = write_zip_dataset(tmp_path / "noise.zip", random_images(12, 32, seed=1))
    results = compute_metrics(
        ["fid8", "kid8", "facerate4"], G, data, "cpu", cache_dir=tmp_path,
        extractor=CountingExtractor(), max_real=12,
    )  # fmt: skip
    assert set(results) == {"fid8", "kid8_mean", "kid8_std", "facerate4", "facerate4_real"}
    assert results["fid8"] > 0.01 and results["kid8_mean"] > 0
    assert results["facerate4"] == 0.0 and results["facerate4_real"] == 0.0  # no faces in noise
