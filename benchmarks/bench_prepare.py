"""Benchmark `waifugan prepare` against a plain single-process Pillow loop, same files, same run.

1. adventurer-train-128.zip → 64 px, --no-detect, dedup on (10,000 images; --quick: 500):
   images/s and peak memory of the pipeline vs. a loop doing decode → resize → PNG encode;
   dataset bytes vs. the sum of its encoded images.
2. renpy-demo art with face detection and waifu2x (256 px): inputs/s, faces/s, peak memory.
3. waifu2x UpConv7 alone: output megapixels/s (tiled, one process).
Each measurement runs in a fresh child process (so peak RSS is its own); the table shows
medians of several runs. Usage: python benchmarks/bench_prepare.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WAIFUGAN_SHARED", REPO.parent / "shared"))
ADVENTURER = SHARED / "data" / "adventurer-train-128.zip"
RENPY = SHARED / "data" / "renpy-demo"


def _cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _stop_forkserver() -> None:
    """Stop and reap multiprocessing's fork server (it reaps the pool workers itself)."""
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    if server is not None and hasattr(server, "_stop"):
        server._stop()


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0  # Linux: kilobytes


def child_baseline(limit: int) -> dict[str, Any]:
    """decode → resize (Lanczos) → PNG encode, one process, same files as the pipeline."""
    from PIL import Image

    with zipfile.ZipFile(ADVENTURER) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))[:limit]
        started, cpu = time.perf_counter(), _cpu_seconds()
        encoded = 0
        for name in names:
            img = Image.open(io.BytesIO(archive.read(name))).convert("RGB")
            img = img.resize((64, 64), Image.Resampling.LANCZOS)
            buffer = io.BytesIO()
            img.save(buffer, format="PNG")
            encoded += len(buffer.getvalue())
        seconds = time.perf_counter() - started
    cpu = _cpu_seconds() - cpu
    return {"seconds": seconds, "cpu": cpu, "images": len(names), "rss_mb": _peak_rss_mb()}


def child_pipeline(limit: int, sources: list[str], extra: dict[str, Any]) -> dict[str, Any]:
    """One `prepare` run into a temporary folder."""
    from waifugan.prepare.config import PrepareConfig
    from waifugan.prepare.pipeline import prepare

    with tempfile.TemporaryDirectory() as tmp:
        cfg = PrepareConfig(
            sources=tuple(sources), output=str(Path(tmp) / "ds.zip"), limit=limit,
            progress=False, **extra,
        )  # fmt: skip
        started, cpu = time.perf_counter(), _cpu_seconds()
        result = prepare(cfg)
        seconds = time.perf_counter() - started
        _stop_forkserver()  # so its and its workers' CPU and peak RSS count as our children
        cpu = _cpu_seconds() - cpu
        with zipfile.ZipFile(result.output) as archive:
            image_bytes = sum(
                i.file_size for i in archive.infolist() if i.filename.endswith(".png")
            )
        return {
            "seconds": seconds,
            "cpu": cpu,
            "inputs": result.report.inputs,
            "images": result.images,
            "faces": result.report.counts["faces"],
            "dataset_bytes": result.output.stat().st_size,
            "image_bytes": image_bytes,
            "rss_mb": _peak_rss_mb(),
        }


def child_waifu2x(side_px: int) -> dict[str, Any]:
    """Tiled UpConv7 on a side_px² crop of real art."""
    import numpy as np
    from PIL import Image

    from waifugan.prepare.waifu2x import load_upconv7, upscale2x

    rgb = np.asarray(Image.open(RENPY / "concert1.png").convert("RGB"))[
        300 : 300 + side_px, 1500 : 1500 + side_px
    ]
    net = load_upconv7()
    upscale2x(net, rgb[:32, :32])  # warm-up
    started = time.perf_counter()
    upscale2x(net, rgb, tile_px=128)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "mpx_out": 4 * side_px * side_px / 1e6, "rss_mb": _peak_rss_mb()}


def _run_child(kind: str, **kwargs: Any) -> dict[str, Any]:
    env = dict(
        os.environ, WAIFUGAN_ASSETS=os.environ.get("WAIFUGAN_ASSETS", str(SHARED / "assets"))
    )
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps({"kind": kind, **kwargs})],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def bench_adventurer(limit: int, repeats: int) -> list[str]:
    """Rows for the pipeline vs baseline table."""
    extra = {"detect": False, "resolution": 64, "workers": os.cpu_count() or 1}
    base = [_run_child("baseline", limit=limit) for _ in range(repeats)]
    pipe = [_run_child("pipeline", limit=limit, sources=[str(ADVENTURER)], extra=extra)
            for _ in range(repeats)]  # fmt: skip
    base_rate = limit / _median(base, "seconds")
    pipe_rate = limit / _median(pipe, "seconds")
    size_ratio = pipe[0]["dataset_bytes"] / pipe[0]["image_bytes"]
    base_cpu_ms = 1000 * _median(base, "cpu") / limit
    pipe_cpu_ms = 1000 * _median(pipe, "cpu") / limit
    return [
        f"| baseline: Pillow loop, 1 process ({limit} images) | {base_rate:.0f} img/s | 1.00x "
        f"| {_median(base, 'rss_mb'):.0f} MB | {base_cpu_ms:.2f} CPU-ms/img |",
        f"| prepare --no-detect 64 px + dedup, {extra['workers']} workers | {pipe_rate:.0f} img/s "
        f"| {pipe_rate / base_rate:.2f}x | {_median(pipe, 'rss_mb'):.0f} MB "
        f"| {pipe_cpu_ms:.2f} CPU-ms/img (all processes); {pipe[0]['images']} kept; "
        f"dataset bytes / image bytes = {size_ratio:.3f} |",
    ]


def bench_renpy(quick: bool, repeats: int) -> list[str]:
    """Rows for detection + waifu2x on real art."""
    files = sorted(RENPY.glob("*.png"))
    if quick:
        files = [f for f in files if f.name.startswith("lucy")]
    extra = {"resolution": 256, "workers": os.cpu_count() or 1, "upscale": "waifu2x"}
    runs = [_run_child("pipeline", limit=None, sources=[str(f) for f in files], extra=extra)
            for _ in range(repeats)]  # fmt: skip
    seconds = _median(runs, "seconds")
    return [
        f"| renpy-demo ({len(files)} files), detect + waifu2x 256 px | "
        f"{runs[0]['inputs'] / seconds:.2f} img/s ({runs[0]['faces'] / seconds:.2f} faces/s) "
        f"| | {_median(runs, 'rss_mb'):.0f} MB | {runs[0]['images']} faces kept |"
    ]


def bench_waifu2x(quick: bool, repeats: int) -> list[str]:
    """Row for UpConv7 alone."""
    side = 128 if quick else 256
    runs = [_run_child("waifu2x", side_px=side) for _ in range(repeats)]
    rate = runs[0]["mpx_out"] / _median(runs, "seconds")
    return [f"| waifu2x UpConv7 ×2, {side}² px input, tiles of 128 | {rate:.3f} Mpx/s out | "
            f"| {_median(runs, 'rss_mb'):.0f} MB | |"]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke run (< 1 min)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        kind = spec.pop("kind")
        fn = {"baseline": child_baseline, "pipeline": child_pipeline, "waifu2x": child_waifu2x}
        print(json.dumps(fn[kind](**spec)))
        return 0
    if not ADVENTURER.exists():
        print(f"skipped: {ADVENTURER} not found (set WAIFUGAN_SHARED)")
        return 0
    repeats = 1 if args.quick else 3
    rows = ["| what | throughput | vs baseline | peak RSS | notes |", "|---|---|---|---|---|"]
    rows += bench_adventurer(500 if args.quick else 10_000, repeats)
    rows += bench_renpy(args.quick, repeats)
    rows += bench_waifu2x(args.quick, repeats)
    print(f"medians of {repeats} run(s); {os.cpu_count()} CPU cores\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
