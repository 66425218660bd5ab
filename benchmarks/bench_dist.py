"""Several CPU processes (gloo): training img/s of 1 process vs 2 processes with one thread
each, and how the gradients are averaged (one flat all-reduce per phase vs DDP).

1. img/s: the cpu64 preset (--quick: cpu32) for a fixed number of steps after warm-up, as
   1 process x 1 thread, 1 process x 2 threads and 2 processes x 1 thread (batch split); the
   difference between the last two is what the processes cost (communication, duplicated
   mapping/augmentation work, start-up excluded).
2. all-reduce: D's main phase (forward, backward, gradient averaging, Adam) in 2 processes,
   with waifugan's one flat all-reduce after the backward vs torch's DistributedDataParallel
   (bucketed all-reduces overlapping the backward), and the all-reduce alone.
Usage: python benchmarks/bench_dist.py [--quick]. Run on a quiet machine: the figures are
wall-clock times of processes that compete for the same cores.
"""

from __future__ import annotations

import io
import json
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED, table  # noqa: E402
from waifugan.data.dataset import ImageDataset  # noqa: E402
from waifugan.networks.discriminator import Discriminator  # noqa: E402
from waifugan.train import distributed  # noqa: E402
from waifugan.train.loop import TrainingLoop  # noqa: E402
from waifugan.train.options import resolve_options  # noqa: E402

QUICK = "--quick" in sys.argv
PRESET, RES = ("cpu32", 32) if QUICK else ("cpu64", 64)
WARMUP, STEPS = (2, 8) if QUICK else (4, 16)  # 16 = one R1 cycle


def make_dataset(path: Path, count: int = 256) -> Path:
    """`count` adventurer faces at RES px (noise when ../shared is absent)."""
    source = SHARED / "data" / "adventurer-train-128.zip"
    rng = np.random.RandomState(0)
    with zipfile.ZipFile(path, "w") as out:
        names = []
        if source.exists():
            with zipfile.ZipFile(source) as src:
                names = sorted(n for n in src.namelist() if n.endswith(".png"))[:count]
                images = [Image.open(io.BytesIO(src.read(n))).convert("RGB") for n in names]
        if not names:
            images = [Image.fromarray((rng.rand(RES, RES, 3) * 255).astype(np.uint8))] * count
        for i, image in enumerate(images):
            buf = io.BytesIO()
            image.resize((RES, RES), Image.Resampling.BOX).save(buf, "PNG")
            out.writestr(f"img{i:08d}.png", buf.getvalue())
    return path


def train_speed(data: str, workdir: str, threads: int, out: str) -> None:
    """One process of the img/s measurement (rank 0 writes the result)."""
    torch.set_num_threads(threads)
    opts = resolve_options(PRESET, {"data": data, "workers": 0, "device": "cpu"}, RES)
    info, device = distributed.init_from_env(torch.device("cpu"))
    torch.set_num_threads(threads)  # init_from_env shares the cores; here we say how
    try:
        loop = TrainingLoop(opts, Path(workdir), ImageDataset(data), device, info)
        for _ in range(WARMUP):
            loop.step()
        start = time.perf_counter()
        for _ in range(STEPS):
            loop.step()
        seconds = time.perf_counter() - start
        if info.is_main:
            Path(out).write_text(json.dumps({"img_per_s": STEPS * opts.batch / seconds}))
        distributed.finish(info)
    finally:
        distributed.shutdown()


def allreduce_strategies(out: str, repeats: int = 20) -> None:
    """One process of the all-reduce comparison: D main phase, flat all-reduce vs DDP."""
    info, device = distributed.init_from_env(torch.device("cpu"))
    torch.set_num_threads(1)
    try:
        opts = resolve_options(PRESET, {"data": "x"}, RES)
        torch.manual_seed(0)
        D = Discriminator(opts.D_config())
        opt = torch.optim.Adam(D.parameters(), lr=1e-4)
        img = torch.randn(opts.batch // info.world_size, 3, RES, RES)
        ddp = torch.nn.parallel.DistributedDataParallel(D)

        def flat() -> None:
            opt.zero_grad(set_to_none=True)
            D(img).square().mean().backward()
            distributed.sum_gradients(D, info)
            opt.step()

        def with_ddp() -> None:
            opt.zero_grad(set_to_none=True)
            ddp(img).square().mean().backward()
            opt.step()

        def reduce_only() -> None:
            distributed.sum_gradients(D, info)

        results = {}
        for name, fn in (("flat", flat), ("ddp", with_ddp), ("reduce_only", reduce_only)):
            times = []
            for i in range(repeats + 2):
                torch.distributed.barrier()
                start = time.perf_counter()
                fn()
                if i >= 2:
                    times.append(time.perf_counter() - start)
            results[name] = statistics.median(times) * 1000
        results["grad_mb"] = sum(p.numel() for p in D.parameters()) * 4 / 2**20
        if info.is_main:
            Path(out).write_text(json.dumps(results))
        distributed.finish(info)
    finally:
        distributed.shutdown()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = str(make_dataset(Path(tmp) / "faces.zip"))
        out = str(Path(tmp) / "result.json")
        rows = []
        for nproc, threads in ((1, 1), (1, 2), (2, 1)):
            if nproc == 1:
                train_speed(data, tmp, threads, out)
            else:
                assert distributed.launch(nproc, train_speed, (data, tmp, threads, out)) == 0
            speed = json.loads(Path(out).read_text())["img_per_s"]
            rows.append([f"{nproc} x {threads} thread(s)", f"{speed:.1f}"])
        base = float(rows[1][1])
        for row in rows:
            row.append(f"{float(row[1]) / base:.2f}")
        print(f"{PRESET}, batch per step as the preset, {STEPS} steps after {WARMUP} warm-up\n")
        print(table(["processes x threads", "img/s", "vs 1 x 2"], rows))
        assert distributed.launch(2, allreduce_strategies, (out,)) == 0
        r = json.loads(Path(out).read_text())
        print(f"\nD main phase in 2 gloo processes ({r['grad_mb']:.1f} MB of gradients)\n")
        print(table(["strategy", "ms per phase"], [
            ["flat all-reduce after backward (waifugan)", f"{r['flat']:.1f}"],
            ["DistributedDataParallel", f"{r['ddp']:.1f}"],
            ["the flat all-reduce alone", f"{r['reduce_only']:.1f}"],
        ]))  # fmt: skip


if __name__ == "__main__":
    main()
