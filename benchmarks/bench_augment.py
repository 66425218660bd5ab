"""ADA's share of a cpu64 training step, the pipeline alone, and how little it resamples away.

Share: 16-step cycles (so lazy R1 is amortized) of one cpu64 TrainingLoop, alternating p = 0
(the pipe returns its input untouched) with p = P, medians of each; share = 1 - t0 / tP, from
wall time and from this process's CPU time (less disturbed by other jobs on the machine).
Target (issue 12): at most 15 % at the p ADA settles at on small data (0.2-0.6).
Usage: python benchmarks/bench_augment.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import CYCLE, make_dataset, make_loop  # noqa: E402
from common import median_seconds, table  # noqa: E402
from waifugan.train.augment import AugmentPipe, _translate2d, resample  # noqa: E402

QUICK = "--quick" in sys.argv
PS = (0.2, 0.6, 1.0)


def step_share(loop, p: float, rounds: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU seconds of a 16-step cycle at p = 0 and at p, interleaved."""
    assert loop.augment.pipe is not None
    times: dict[tuple[str, float], list[float]] = {}
    for _ in range(rounds):
        for value in (0.0, p):
            loop.augment.pipe.p = value
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(CYCLE):
                loop.step()
            times.setdefault(("wall", value), []).append(time.perf_counter() - wall)
            times.setdefault(("cpu", value), []).append(time.process_time() - cpu)
    return {
        clock: (statistics.median(times[clock, 0.0]), statistics.median(times[clock, p]))
        for clock in ("wall", "cpu")
    }


def pipe_alone() -> list[list[object]]:
    """Forward and forward+backward of 'bgc' on a cpu64 batch [16, 3, 64, 64]."""
    x = torch.randn(16, 3, 64, 64, requires_grad=True)
    rows = []
    for p in PS:
        pipe = AugmentPipe("bgc", p)
        fwd = median_seconds(lambda pipe=pipe: pipe(x.detach()), repeats=5 if QUICK else 15)
        both = median_seconds(
            lambda pipe=pipe: pipe(x).square().sum().backward(), repeats=5 if QUICK else 15
        )
        rows.append([f"bgc p={p}", f"{fwd * 1e3:.1f}", f"{both * 1e3:.1f}"])
    return rows


def leak_figures() -> list[list[object]]:
    """Resampling error: identity matrix, and a fractional shift there and back."""
    g = torch.Generator().manual_seed(0)
    smooth = F.interpolate(torch.randn(16, 3, 16, 16, generator=g) * 0.5, size=64, mode="bicubic")
    eye = torch.eye(3, dtype=torch.float64).repeat(16, 1, 1)
    t = torch.rand(16, 2, generator=g, dtype=torch.float64) - 0.5
    there, back = _translate2d(t[:, 0], t[:, 1]), _translate2d(-t[:, 0], -t[:, 1])
    ours = resample(resample(smooth, there), back)
    theta = torch.zeros(16, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1

    def bilinear(img: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        theta[:, :, 2] = shift.float() * 2 / 64
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        return F.grid_sample(img, grid, padding_mode="reflection", align_corners=False)

    plain = bilinear(bilinear(smooth, t), -t)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))
    constant = AugmentPipe("bg", 1.0)(torch.full((16, 3, 64, 64), 0.3), g)
    noise = torch.randn(16, 3, 64, 64, generator=g)
    identity_error = (resample(noise, eye) - noise).abs().max()
    return [
        ["identity matrix, max |out - in| (white noise)", f"{identity_error:.1e}"],
        ["shift by t and back, mean |err| (smooth)", f"{(ours - smooth)[inner].abs().mean():.4f}"],
        ["the same with plain bilinear", f"{(plain - smooth)[inner].abs().mean():.4f}"],
        ["constant image through 'bg' at p=1, max |dev|", f"{(constant - 0.3).abs().max():.1e}"],
    ]  # fmt: skip


def main() -> int:
    torch.manual_seed(0)
    print(table(["resampling check", "value"], leak_figures()))
    print()
    print(table(["pipeline alone, [16,3,64,64]", "fwd ms", "fwd+bwd ms"], pipe_alone()))
    print()
    with tempfile.TemporaryDirectory() as tmp:
        data = make_dataset(Path(tmp) / "adv64.zip", 256)
        loop = make_loop(data, Path(tmp), aug="fixed", p=0.0)  # ADA on top of the preset
        for _ in range(CYCLE):  # warm-up
            loop.step()
        rows = []
        for p in PS if not QUICK else (0.6,):
            for clock, (t0, tp) in step_share(loop, p, rounds=2 if QUICK else 4).items():
                rows.append([f"p={p}", clock, f"{t0 / CYCLE:.3f}", f"{tp / CYCLE:.3f}",
                             f"{1 - t0 / tp:.1%}"])  # fmt: skip
        headers = ["cpu64 step (16-step cycles)", "clock", "s/step p=0", "s/step", "ADA share"]
        print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
