"""Helpers shared by the benchmark scripts: medians, matmul peak, tables, shared data, and the
wall-clock checkpoints of the long training benchmarks."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from waifugan.networks.model_file import save_model

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("WAIFUGAN_SHARED", REPO.parent / "shared"))


def median_seconds(fn: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """Median wall time of fn over `repeats` runs after `warmup` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def matmul_peak_gflops(n: int = 2048, repeats: int = 7) -> float:
    """Measured fp32 matmul throughput on [n, n] matrices: the machine's practical peak."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    seconds = median_seconds(lambda: torch.matmul(a, b), repeats=repeats, warmup=2)
    return 2 * n**3 / seconds / 1e9


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class Clock:
    """on_step callback: saves G_ema at each checkpoint minute, stops after the last one."""

    def __init__(self, minutes: list[float], outdir: Path) -> None:
        self.started = time.perf_counter()
        self.pending = sorted(minutes)
        self.outdir = outdir
        self.saved: list[tuple[float, float, float, Path]] = []  # (minute, kimg, p, model)

    def __call__(self, loop: Any) -> None:
        elapsed = (time.perf_counter() - self.started) / 60
        while self.pending and elapsed >= self.pending[0]:
            minute = self.pending.pop(0)
            path = self.outdir / f"g-{minute:g}min.safetensors"
            save_model(loop.G_ema, path)
            self.saved.append((minute, loop.cur_nimg / 1000, loop.augment.p, path))
        if not self.pending:
            loop.request_stop()
