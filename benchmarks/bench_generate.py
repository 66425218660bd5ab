"""Generation throughput on CPU: images/s at 64 px (cpu64 network) and 256 px (paper256 network).

Batch 32, ψ=0.7, const noise, output as uint8 pixels (what a PNG holds). Median of 5 runs.
Usage: python benchmarks/bench_generate.py [--quick]
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median_seconds, table  # noqa: E402
from waifugan.networks.generator import Generator  # noqa: E402
from waifugan.train.options import resolve_options  # noqa: E402

QUICK = "--quick" in sys.argv
BATCH = 32


def main() -> int:
    rows = []
    for preset, res in (("cpu64", 64), ("gpu256", 256)):
        torch.manual_seed(0)
        opts = resolve_options(preset, {"data": "-"}, res)
        G = Generator(opts.G_config()).eval()
        seeds = list(range(BATCH))
        seconds = median_seconds(
            lambda G=G, seeds=seeds: G.sample(seeds, psi=0.7, batch_size=BATCH),
            repeats=2 if QUICK else 5,
        )
        params = sum(p.numel() for p in G.parameters()) / 1e6
        rows.append([f"{res} px ({preset} net, {params:.1f} M params)", BATCH,
                     f"{BATCH / seconds:.1f}", f"{seconds * 1e3 / BATCH:.1f}"])  # fmt: skip
    print(table(["generator", "batch", "images/s", "ms/image"], rows))
    print(f"\ntorch threads: {torch.get_num_threads()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
