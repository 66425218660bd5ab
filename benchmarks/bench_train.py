"""Training throughput of the cpu64 preset: img/s, model FLOPs utilization, profile, memory.

MFU = analytic FLOPs per image (torch.utils.flop_counter over one 16-step cycle, so lazy R1
and path-length regularization are amortized) × img/s ÷ the fp32 matmul peak measured in the
same run. Also compares our batched modulated conv with NVlabs-style grouped convolution.
Usage: python benchmarks/bench_train.py [--quick]
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, matmul_peak_gflops, median_seconds, table  # noqa: E402
from waifugan.data.dataset import ImageDataset  # noqa: E402
from waifugan.networks import generator as gen  # noqa: E402
from waifugan.train.loop import TrainingLoop  # noqa: E402
from waifugan.train.options import resolve_options  # noqa: E402

QUICK = "--quick" in sys.argv
CYCLE = 16  # lcm of the R1 (16) and path-length (4) intervals


def make_dataset(path: Path, count: int, size: int = 64) -> Path:
    """First `count` adventurer faces at `size` px (synthetic noise when ../shared is absent)."""
    source = SHARED / "data" / "adventurer-train-128.zip"
    with zipfile.ZipFile(path, "w") as out:
        if source.exists():
            with zipfile.ZipFile(source) as src:
                names = sorted(n for n in src.namelist() if n.endswith(".png"))[:count]
                for i, name in enumerate(names):
                    image = Image.open(io.BytesIO(src.read(name))).convert("RGB")
                    buf = io.BytesIO()
                    image.resize((size, size), Image.Resampling.BOX).save(buf, "PNG")
                    out.writestr(f"img{i:08d}.png", buf.getvalue())
        else:
            rng = np.random.RandomState(0)
            for i in range(count):
                buf = io.BytesIO()
                Image.fromarray((rng.rand(size, size, 3) * 255).astype(np.uint8)).save(buf, "PNG")
                out.writestr(f"img{i:08d}.png", buf.getvalue())
    return path


def make_loop(data: Path, workdir: Path, **overrides: object) -> TrainingLoop:
    """A cpu64 TrainingLoop on `data`; `overrides` are training options (e.g. aug="fixed")."""
    opts = resolve_options("cpu64", {"data": str(data), "workers": 1, **overrides}, 64)
    return TrainingLoop(opts, workdir, ImageDataset(data), torch.device("cpu"))


class _GlobalOnly:
    """Stand-in for FlopCounterMode's module tracker, whose hooks break autograd.grad on
    leaf tensors (the R1 penalty); we only need the global total."""

    parents = frozenset({"Global"})

    def __enter__(self) -> _GlobalOnly:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def cycle_flops(loop: TrainingLoop) -> float:
    """FLOPs of one full regularization cycle of steps."""
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()  # type: ignore[assignment]
    with counter:
        for _ in range(CYCLE):
            loop.step()
    return float(counter.get_total_flops())


def modconv_grouped(x, weight, styles):
    """NVlabs fused_modconv: one weight per sample, grouped conv (for comparison only)."""
    n, c_in, h, w = x.shape
    wgt = weight.unsqueeze(0) * styles.reshape(n, 1, -1, 1, 1)
    wgt = wgt * (wgt.square().sum(dim=[2, 3, 4], keepdim=True) + 1e-8).rsqrt()
    out = F.conv2d(x.reshape(1, -1, h, w), wgt.reshape(-1, c_in, 3, 3), padding=1, groups=n)
    return out.reshape(n, -1, h, w)


def modconv_comparison() -> list[list[object]]:
    rows = []
    for res, ch in ((32, 128), (64, 64)):
        x = torch.randn(16, ch, res, res, requires_grad=True)
        weight = torch.randn(ch, ch, 3, 3, requires_grad=True)
        styles = torch.randn(16, ch, requires_grad=True)

        def run(fn, x=x, weight=weight, styles=styles):
            return lambda: fn(x, weight, styles).square().sum().backward()

        batched = median_seconds(run(gen.modulated_conv2d), repeats=3 if QUICK else 7)
        grouped = median_seconds(run(modconv_grouped), repeats=3 if QUICK else 7)
        rows.append([f"{res}px {ch}ch b16 fwd+bwd", f"{batched * 1e3:.1f}",
                     f"{grouped * 1e3:.1f}", f"{grouped / batched:.2f}x"])  # fmt: skip
    return rows


def peak_rss_of_training_run(data: Path, workdir: Path, kimg: float) -> float:
    """Peak resident memory (MiB) of `waifugan train --preset cpu64` in a child process."""
    code = (
        "import resource, sys; from waifugan.cli import main; "
        f"main(['train', '--data', {str(data)!r}, '--outdir', {str(workdir)!r}, "
        f"'--preset', 'cpu64', '--kimg', '{kimg}', '--tick', '{kimg}', '--workers', '2']); "
        "print('RSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RSS"))
    main_kb, child_kb = (int(v) for v in line.split()[1:])
    return (main_kb + child_kb) / 1024


def main() -> int:
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        data = make_dataset(tmp_path / "adv64.zip", 256 if QUICK else 2000)
        loop = make_loop(data, tmp_path)
        flops_per_img = cycle_flops(loop) / (CYCLE * loop.opts.batch)
        repeats = 2 if QUICK else 5

        def one_cycle():
            for _ in range(CYCLE):
                loop.step()

        seconds = median_seconds(one_cycle, repeats=repeats, warmup=1)
        img_per_s = CYCLE * loop.opts.batch / seconds
        peak = matmul_peak_gflops()
        achieved = flops_per_img * img_per_s / 1e9
        print(table(
            ["metric", "value"],
            [[f"cpu64 training img/s (median of {repeats} 16-step cycles)", f"{img_per_s:.1f}"],
             ["sec/kimg", f"{1000 / img_per_s:.0f}"],
             ["GFLOP per image (G+D step, reg amortized)", f"{flops_per_img / 1e9:.3f}"],
             ["achieved GFLOP/s", f"{achieved:.1f}"],
             ["fp32 matmul peak 2048² GFLOP/s (same run)", f"{peak:.1f}"],
             ["model FLOPs utilization", f"{achieved / peak:.1%}"],
             ["torch threads", torch.get_num_threads()]],
        ))  # fmt: skip
        print()
        print(table(["modulated conv", "batched ms", "grouped ms", "grouped/batched"],
                    modconv_comparison()))  # fmt: skip
        print()
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(4 if QUICK else CYCLE):
                loop.step()
        print("```")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
        print("```")
        rss = peak_rss_of_training_run(data, tmp_path / "runs", 0.064 if QUICK else 0.5)
        print(f"\npeak RSS of a cpu64 training run (main + DataLoader workers): {rss:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
