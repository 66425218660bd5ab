"""Learning curve of the CPU preset: FID-2k against wall minutes, old settings vs the preset.

Not part of `make bench` (it takes hours): run it alone on a quiet machine,

    python benchmarks/long_learning_curve.py --data adv64.zip [--minutes 20 60] [--variants new]
        [--try NAME:key=value,key=value ...] [--keep DIR] [--fid-now]

where adv64.zip is `waifugan prepare ../shared/data/adventurer-train-128.zip -o adv64.zip
--resolution 64 --no-detect`. Each variant trains from scratch with `--mirror`; at each
checkpoint minute (wall time from the start of training) its G_ema is saved, and afterwards
FID-2k (ψ = 1, against the training set) is computed for every saved model. Prints a table.
`--try` adds a variant of the preset for a tuning sweep (values parsed as JSON, else kept as
strings, e.g. `b8:batch=8,glr=0.002`; an item without `=` continues the previous value, as in
`nocolor:diffaug=translation,cutout`); `--keep` keeps the run folders and models there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from common import Clock, table
from waifugan.metrics.evaluate import MetricsConfig, run_metrics
from waifugan.train.options import options_for_data
from waifugan.train.run import train

# The cpu64 preset before issue 13, spelled out as flags, and the preset as it is now.
VARIANTS: dict[str, dict[str, object]] = {
    "old": dict(cbase=4096, cmax=128, d_cbase=4096, d_cmax=128, gamma=0.05, ema_kimg=5.0,
                pl_weight=2.0, style_mixing=0.9, noise=True, diffaug="none", aug="none",
                workers=2),
    "new": {},
}  # fmt: skip


def parse_variant(text: str) -> tuple[str, dict[str, object]]:
    """`NAME:key=value,key=value` → (NAME, overrides); values are JSON where they parse."""
    name, _, spec = text.partition(":")
    if not name or not spec:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME:key=value[,key=value]")
    pairs: list[list[str]] = []
    for item in spec.split(","):
        key, eq, raw = item.partition("=")
        if eq:
            pairs.append([key.strip(), raw])
        elif pairs:  # a list value: diffaug=translation,cutout
            pairs[-1][1] += "," + item
        else:
            raise argparse.ArgumentTypeError(f"{item!r} in {text!r}: expected key=value")
    overrides: dict[str, object] = {}
    for key, raw in pairs:
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return name, overrides


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--minutes", type=float, nargs="+", default=[20.0, 60.0])
    parser.add_argument("--variants", nargs="*", default=None, choices=list(VARIANTS))
    parser.add_argument("--try", dest="tries", type=parse_variant, action="append", default=[])
    parser.add_argument("--keep", type=Path, default=None, help="keep runs and models here")
    args = parser.parse_args()
    named = args.variants if args.variants is not None else ([] if args.tries else list(VARIANTS))
    variants = [(name, VARIANTS[name]) for name in named] + args.tries
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        for name, overrides in variants:
            outdir = root / name
            clock = Clock(args.minutes, outdir)
            opts = options_for_data(dict(
                data=args.data, outdir=str(outdir), preset="cpu64", kimg=100000, mirror=True,
                snap=10**6, **overrides,
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
