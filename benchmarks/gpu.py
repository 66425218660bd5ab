"""Training speed on one GPU per preset: sec/kimg, img/s, peak memory, FP16 vs BF16 vs FP32.

    python benchmarks/gpu.py                          # gpu256/512/1024 + cpu64, fp16 and fp32
    python benchmarks/gpu.py --presets gpu256 --precisions fp16,bf16,fp32 --steps 32
    python benchmarks/gpu.py --channels-last          # also the FP16 rows with NHWC activations
    python benchmarks/gpu.py --compile                # also Gmain+Dmain under torch.compile
    python benchmarks/gpu.py --smoke                  # no GPU: 3 tiny CPU steps (checks the script)

Timed: --steps whole training steps (Gmain, Greg every 4, Dmain, Dreg every 16, G_ema; 16 =
one regularization cycle) after --warmup, on cuda:0, at the preset's batch (one GPU holds the
preset's whole batch; --batch-gpu splits it into accumulated passes), on a synthetic dataset at
the preset's resolution. MFU = model FLOPs per image (torch.utils.flop_counter over each phase,
the regularization phases divided by their intervals) x img/s / the dense matmul peak measured
in the same run in that precision. Runs unchanged on any CUDA machine. Anchors: NVlabs
stylegan2-ada-pytorch's published figures for its paper256 config (~22 s/kimg on one V100,
~12.5 on one A100, as quoted in issue 14).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402
from waifugan.data.dataset import ImageDataset  # noqa: E402
from waifugan.train.loop import TrainingLoop  # noqa: E402
from waifugan.train.options import PRESETS, resolve_options  # noqa: E402

ANCHORS = "NVlabs paper256 anchors: ~22 s/kimg on one V100, ~12.5 s/kimg on one A100"


def make_dataset(path: Path, resolution: int, count: int = 64) -> Path:
    """`count` smooth random colour images (PNG) at `resolution`: decoding cost like faces."""
    rng = np.random.RandomState(0)
    small = 8
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            low = Image.fromarray((rng.rand(small, small, 3) * 255).astype(np.uint8))
            image = low.resize((resolution, resolution), Image.Resampling.BICUBIC)
            buf = io.BytesIO()
            image.save(buf, "PNG")
            zf.writestr(f"img{i:08d}.png", buf.getvalue())
    return path


def matmul_peak_tflops(device: torch.device, dtype: torch.dtype, n: int = 8192) -> float:
    """Measured dense matmul throughput (the practical peak MFU is relative to)."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize(device)
    start, repeats = time.perf_counter(), 10
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e12


def build_loop(args: argparse.Namespace, preset: str, precision: str, channels_last: bool,
               workdir: Path, device: torch.device) -> TrainingLoop:  # fmt: skip
    resolution = 32 if args.smoke else PRESETS[preset].resolution
    data = make_dataset(workdir / f"data{resolution}.zip", resolution)
    overrides = {
        "data": str(data), "metrics": (), "precision": precision, "device": str(device),
        "channels_last": channels_last, "batch_gpu": args.batch_gpu,
        "workers": 0 if args.smoke else None,
    }  # fmt: skip
    if args.smoke:
        overrides.update(cbase=256, cmax=16, z_dim=16, w_dim=16, batch=8)
    opts = resolve_options(preset, overrides, resolution)
    run_dir = workdir / f"run-{preset}-{precision}"
    run_dir.mkdir()
    return TrainingLoop(opts, run_dir, ImageDataset(data), device)


def flops_per_image(loop: TrainingLoop) -> float:
    """Model FLOPs per image of an average step: each phase counted once, the regularization
    phases divided by their intervals (path length every 4 steps, R1 every 16)."""
    real = next(loop._reals)
    phases = {
        "g_main": (loop.g_main, 1),
        "g_reg": (loop.g_reg, loop.opts.pl_interval if loop.opts.pl_weight > 0 else 0),
        "d_main": (lambda: loop.d_main(real), 1),
        "d_reg": (lambda: loop.d_reg(real), loop.opts.r1_interval if loop.opts.gamma > 0 else 0),
    }
    total = 0.0
    for run_phase, interval in phases.values():
        if interval:
            with FlopCounterMode(display=False) as counter:
                run_phase()
            total += counter.get_total_flops() / interval
    return total / loop.opts.batch


def measure(args: argparse.Namespace, loop: TrainingLoop, device: torch.device) -> dict:
    """Seconds per kimg, img/s and peak memory over args.steps steps after warm-up."""
    for _ in range(args.warmup):
        loop.step()
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loop.step()
    sync(device)
    seconds = time.perf_counter() - start
    images = args.steps * loop.opts.batch
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    return {"sec_per_kimg": seconds / images * 1000, "img_per_s": images / seconds, "peak": peak}


def measure_compiled(args: argparse.Namespace, loop: TrainingLoop, device: torch.device) -> float:
    """img/s of Gmain + Dmain only with G.synthesis and D compiled (the regularization phases
    need double backward, which torch.compile does not support: they cannot be compiled)."""
    eager_G, eager_D = loop.G.synthesis, loop.D
    loop.G.synthesis = torch.compile(eager_G)  # type: ignore[assignment]
    loop.D = torch.compile(eager_D)  # type: ignore[assignment]
    try:
        return measure_main_phases(args, loop, device)
    finally:
        loop.G.synthesis, loop.D = eager_G, eager_D


def measure_main_phases(
    args: argparse.Namespace, loop: TrainingLoop, device: torch.device
) -> float:
    """img/s of Gmain + Dmain only, eager (the baseline of --compile)."""
    real = next(loop._reals)
    for _ in range(args.warmup):
        loop.g_main()
        loop.d_main(real)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        loop.g_main()
        loop.d_main(real)
    sync(device)
    return args.steps * loop.opts.batch / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", default="gpu256,gpu512,gpu1024,cpu64")
    p.add_argument("--precisions", default="fp16,fp32", help="of fp16, bf16, fp32")
    p.add_argument("--steps", type=int, default=16)
    p.add_argument("--warmup", type=int, default=4)
    p.add_argument("--batch-gpu", type=int, default=None, help="accumulate passes of N images")
    p.add_argument("--channels-last", action="store_true", help="also FP16/BF16 rows in NHWC")
    p.add_argument("--compile", action="store_true", help="also Gmain+Dmain, compiled vs eager")
    p.add_argument("--no-flops", action="store_true", help="skip the FLOP count (MFU column)")
    p.add_argument("--smoke", action="store_true", help="3 tiny steps on CPU: checks the script")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    if args.smoke:
        device = torch.device("cpu")
        args.presets, args.precisions, args.steps, args.warmup = "cpu64", "fp32", 2, 1
    elif not torch.cuda.is_available():
        message = (
            f"benchmarks/gpu.py measures CUDA GPUs and this machine has none (torch "
            f"{torch.__version__}). Run it on a GPU machine, or with --smoke to check the "
            "script on CPU; CPU training speed: benchmarks/bench_train.py."
        )
        print(message, file=sys.stderr)
        return 2
    else:
        device = torch.device("cuda", 0)
        torch.backends.cudnn.benchmark = True  # as training does (train/run.py)
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        name = torch.cuda.get_device_name(device)
        print(f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
              f"cuDNN {torch.backends.cudnn.version()}\n")  # fmt: skip
    peaks: dict[str, float] = {}
    rows, compiled_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets.split(","):
            for precision in args.precisions.split(","):
                variants = [False, True] if args.channels_last and precision != "fp32" else [False]
                for channels_last in variants:
                    row = run_one(args, preset, precision, channels_last, Path(tmp), device, peaks)
                    rows.append(row[0])
                    if row[1] is not None:
                        compiled_rows.append(row[1])
    headers = ["preset", "px", "batch", "precision", "sec/kimg", "img/s", "peak GiB", "MFU"]
    print(table(headers, rows))
    if compiled_rows:
        print("\nGmain + Dmain only (the regularization phases cannot be compiled)\n")
        print(table(["preset", "precision", "eager img/s", "compiled img/s", "ratio"],
                    compiled_rows))  # fmt: skip
    print(f"\n{ANCHORS}; {args.steps} steps after {args.warmup} warm-up, matmul peaks (TFLOP/s):"
          f" {', '.join(f'{k} {v:.0f}' for k, v in peaks.items()) or 'not measured'}")  # fmt: skip
    return 0


def run_one(
    args: argparse.Namespace,
    preset: str,
    precision: str,
    channels_last: bool,
    workdir: Path,
    device: torch.device,
    peaks: dict[str, float],
) -> tuple[list, list | None]:
    """One table row (and one --compile row)."""
    label = precision + (" NHWC" if channels_last else "")
    try:
        loop = build_loop(args, preset, precision, channels_last, workdir, device)
        flops = 0.0 if args.no_flops else flops_per_image(loop)
        result = measure(args, loop, device)
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return [preset, PRESETS[preset].resolution, "", label, "OOM", "", "", ""], None
    mfu = ""
    if flops and device.type == "cuda":
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[precision]
        if precision not in peaks:
            peaks[precision] = matmul_peak_tflops(device, dtype)
        mfu = f"{flops * result['img_per_s'] / (peaks[precision] * 1e12):.1%}"
    row = [preset, loop.opts.resolution, loop.opts.batch, label, f"{result['sec_per_kimg']:.2f}",
           f"{result['img_per_s']:.1f}", f"{result['peak']:.2f}", mfu]  # fmt: skip
    compiled = None
    if args.compile:
        eager = measure_main_phases(args, loop, device)
        fast = measure_compiled(args, loop, device)
        compiled = [preset, label, f"{eager:.1f}", f"{fast:.1f}", f"{fast / eager:.2f}"]
    del loop
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return row, compiled


if __name__ == "__main__":
    raise SystemExit(main())
