"""Learning curve of the CPU preset: FID-2k against wall minutes, old settings vs the preset.

Not part of `make bench` (it takes hours): run it alone on a quiet machine,

    python benchmarks/long_learning_curve.py --data adv64.zip [--minutes 20 60] [--variants new]

where adv64.zip is `waifugan prepare ../shared/data/adventurer-train-128.zip -o adv64.zip
--resolution 64 --no-detect`. Each variant trains from scratch with `--mirror`; at each
checkpoint minute (wall time from the start of training) its G_ema is saved, and afterwards
FID-2k (ψ = 1, against the training set) is computed for every saved model. Prints a table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from common import Clock, table
from waifugan.metrics.evaluate import MetricsConfig, run_metrics
from waifugan.train.options import options_for_data
from waifugan.train.run import train

# The cpu64 preset before issue 13, spelled out as flags, and the preset as it is now.
VARIANTS: dict[str, dict[str, object]] = {
    "old": dict(cbase=4096, cmax=128, gamma=0.05, ema_kimg=5.0, pl_weight=2.0, style_mixing=0.9,
                noise=True, diffaug="none", aug="none", workers=2),
    "new": {},
}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            outdir = Path(tmp) / name
            clock = Clock(args.minutes, outdir)
            opts = options_for_data(dict(
                data=args.data, outdir=str(outdir), preset="cpu64", kimg=100000, mirror=True,
                snap=10**6, **VARIANTS[name],
            ))  # fmt: skip
            train(opts, on_step=clock)
            for minute, kimg, _, model in clock.saved:
                report = run_metrics(MetricsConfig(
                    data=args.data, model=str(model), metrics=("fid2k",), log=False,
                ))  # fmt: skip
                fid = report.results["fid2k"]
                rows.append([name, f"{minute:g}", f"{kimg:.1f}", f"{kimg * 1000 / minute / 60:.1f}",
                             f"{fid:.1f}"])  # fmt: skip
                print(rows[-1], file=sys.stderr, flush=True)
    print(table(["variant", "minutes", "kimg", "img/s", "FID-2k"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
