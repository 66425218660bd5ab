"""Metrics cost on this machine: Inception and tagger throughput, the parts of an FID (and of a
tagfd), and FID-2k/10k time.

    python benchmarks/bench_metrics.py            # full run, ~3 min on 2 quiet cores
    python benchmarks/bench_metrics.py --quick    # smoke run, < 1 min
    python benchmarks/bench_metrics.py --measure-fid 2k --data DATA64.zip   # one real FID-2k

An FID-Nk evaluation is N generated images (generator + Inception) plus one 2048x2048 matrix
square root, plus, the first time only, N real images through Inception (then cached). The
full run measures each part (medians of several runs) and states FID-2k and FID-10k wall time
as the sum; `--measure-fid` times one end-to-end evaluation instead (minutes on a CPU).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, median_seconds, table  # noqa: E402

os.environ.setdefault("WAIFUGAN_ASSETS", str(SHARED / "assets"))

from waifugan.metrics.face_rate import anime_face_rate  # noqa: E402
from waifugan.metrics.features import InceptionFeatures  # noqa: E402
from waifugan.metrics.fid import fid_from_stats  # noqa: E402
from waifugan.metrics.kid import kernel_inception_distance  # noqa: E402
from waifugan.metrics.registry import compute_metric, parse_metric_name  # noqa: E402
from waifugan.metrics.stats import FeatureStats  # noqa: E402
from waifugan.metrics.tagger_features import TaggerFeatures  # noqa: E402
from waifugan.networks.generator import Generator, GeneratorConfig  # noqa: E402

# The cpu64 training preset's generator (waifugan.train.options.PRESETS["cpu64"]).
CPU64 = GeneratorConfig(
    img_resolution=64, z_dim=128, w_dim=128, map_depth=2, channel_base=4096, channel_max=128
)


def synthetic_features(num: int, dim: int, seed: int) -> np.ndarray:
    """Non-negative, correlated features shaped like Inception pool outputs."""
    rng = np.random.RandomState(seed)
    mix = rng.rand(dim, dim).astype(np.float32) / dim
    return np.maximum(rng.randn(num, dim).astype(np.float32) @ mix * 4 + 0.3, 0)


def measure(quick: bool) -> list[tuple[str, float, str, str]]:
    """Rows (what, median, unit, ratio) for the table."""
    runs = 1 if quick else 3
    batches = (4, 8) if quick else (32, 64)
    dim = 256 if quick else 2048
    rows: list[tuple[str, float, str, str]] = []
    extractor = InceptionFeatures("cpu", batch_size=batches[-1])
    rng = np.random.RandomState(0)
    rates = {}
    for batch in batches:
        images = rng.randint(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
        rates[batch] = batch / median_seconds(lambda: extractor(images), runs)  # noqa: B023
        ratio = f"{rates[batch] / rates[batches[0]]:.2f}x batch {batches[0]}"
        rows.append((f"Inception, 64 px input, batch {batch}", rates[batch], "img/s", ratio))
    inception_rate = max(rates.values())
    tagger = TaggerFeatures(device="cpu", batch_size=batches[-1])
    images = rng.randint(0, 256, (batches[-1], 64, 64, 3), dtype=np.uint8)
    tagger_rate = batches[-1] / median_seconds(lambda: tagger(images), runs)
    ratio = f"{tagger_rate / inception_rate:.0f}x Inception"
    rows.append((f"bundled tagger, 64 px input, batch {batches[-1]}", tagger_rate, "img/s", ratio))

    torch.manual_seed(0)
    G = Generator(CPU64).eval()
    num_gen = 16 if quick else 256
    seeds = list(range(num_gen))
    gen_rate = num_gen / median_seconds(lambda: G.sample(seeds, psi=1.0, batch_size=64), runs)
    rows.append(("generator cpu64, G.sample 64 px", gen_rate, "img/s", ""))

    faces = G.sample(list(range(16 if quick else 200)), psi=1.0)
    face_rate = len(faces) / median_seconds(lambda: anime_face_rate([faces]), runs)
    rows.append(("anime face detection, 64 px (upsampled to 256)", face_rate, "img/s", ""))

    a = FeatureStats.from_features(synthetic_features(2 * dim, dim, 1))
    b = FeatureStats.from_features(synthetic_features(2 * dim, dim, 2))
    sqrtm_sec = median_seconds(lambda: fid_from_stats(a, b), 1 if quick else 2, warmup=0)
    rows.append((f"Fréchet distance, {dim} features (sqrtm)", sqrtm_sec, "s", ""))
    subsets, size = (10, 100) if quick else (100, 1000)
    kid_sec = median_seconds(
        lambda: kernel_inception_distance(a.features, b.features, subsets, size), 1, warmup=0
    )
    rows.append((f"KID, {subsets} subsets x {min(size, 2 * dim)}", kid_sec, "s", ""))

    tag_dim = tagger.tagger.feature_dim
    ta = FeatureStats.from_features(synthetic_features(2 * tag_dim, tag_dim, 1))
    tb = FeatureStats.from_features(synthetic_features(2 * tag_dim, tag_dim, 2))
    tag_sqrtm_sec = median_seconds(lambda: fid_from_stats(ta, tb), runs)
    rows.append((f"Fréchet distance, {tag_dim} features (sqrtm)", tag_sqrtm_sec, "s", ""))

    for name, rate, square_root in (
        ("FID", inception_rate, sqrtm_sec),
        ("tagfd", tagger_rate, tag_sqrtm_sec),
    ):
        per_fake = 1 / gen_rate + 1 / rate
        for n in (2000, 10000):
            cached = n * per_fake + square_root
            first = cached + n / rate
            ratio = f"{first / cached:.2f}x first run"
            rows.append((f"{name}-{n // 1000}k estimate, reals cached", cached / 60, "min", ratio))
    return rows


def measure_fid(name: str, data: str) -> list[tuple[str, float, str, str]]:
    """Time one end-to-end evaluation, cold (reals extracted) then warm (reals cached)."""
    spec = parse_metric_name(name if name[0].isalpha() else f"fid{name}")
    torch.manual_seed(0)
    G = Generator(CPU64).eval()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for label in ("first run (reals extracted)", "reals cached"):
            started = time.perf_counter()
            result = compute_metric(spec.name, G, data, "cpu", cache_dir=cache)
            minutes = (time.perf_counter() - started) / 60
            value = next(iter(result.values()))
            rows.append((f"{spec.name} end to end, {label}", minutes, "min", f"value {value:.1f}"))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run on tiny inputs")
    parser.add_argument("--measure-fid", metavar="N", help="time one real FID, e.g. 2k")
    parser.add_argument("--data", help="dataset for --measure-fid (64 px or larger)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    if args.measure_fid:
        if not args.data:
            parser.error("--measure-fid needs --data")
        rows = measure_fid(args.measure_fid, args.data)
    else:
        rows = measure(args.quick)
    cells: list[list[object]] = [
        [what, f"{value:.3g}", unit, ratio] for what, value, unit, ratio in rows
    ]
    print(table(["what", "median", "unit", "ratio"], cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
