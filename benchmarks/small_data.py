"""Small-data experiment (issue 12): fine-tune + ADA vs fine-tune without augmentation vs
scratch + ADA on ~200 faces selected by a tag, at equal wall time.

Not part of `make bench` (it trains for most of an hour): run it alone on a quiet machine,

    python benchmarks/small_data.py [--tag glasses] [--count 200] [--minutes 5 10] \
        [--base MODEL] [--variants NAME ...] [--seed N] [--outdir small-data]

The training set is the first `--count` faces carrying `--tag` in the shared adventurer set
(`prepare --tags TAG --limit COUNT`, 64 px); the held-out set is every other face with that tag.
Each variant trains with `--mirror` for the same wall time (the checkpoints are minutes from
the start of `train`); its G_ema at each checkpoint is scored with FID (1000 samples, ψ = 1)
against the training faces and against the held-out faces, and a grid of the same seeds is
saved. The
base model (default: the bundled one, with its D) is scored too, as the starting point.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

from common import SHARED, Clock, table
from waifugan import load
from waifugan.bundled import bundled_model_path
from waifugan.metrics.features import InceptionFeatures
from waifugan.metrics.registry import evaluate_specs, parse_metric_name
from waifugan.metrics.samples import INCEPTION, DatasetImages, GeneratedImages
from waifugan.pixels import make_grid, save_image
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.pipeline import prepare
from waifugan.train.options import options_for_data
from waifugan.train.run import train

GRID_SEEDS = tuple(range(16))
FID_IMAGES = 1000  # generated images per FID: ~2.3 min of Inception on 2 CPU cores
# Augmentation is the variable: DiffAugment (on in the CPU presets) is off in every variant.
VARIANTS: dict[str, dict[str, object]] = {
    "fine-tune + ADA": dict(init="BASE", aug="ada", freezed=1, diffaug="none"),
    "fine-tune, no aug": dict(init="BASE", aug="none", freezed=1, diffaug="none"),
    "scratch + ADA": dict(aug="ada", diffaug="none"),
    # What the README recipe and `make demo` run: ADA on top of the preset's DiffAugment.
    "fine-tune + ADA + DiffAug": dict(init="BASE", aug="ada", freezed=1),
}  # fmt: skip


def split_by_tag(raw: Path, tag: str, count: int, workdir: Path) -> tuple[Path, Path]:
    """(training zip of the first `count` faces with `tag`, held-out zip of the others)."""
    common = dict(sources=(str(raw),), metadata=(str(raw),), tags=(tag,), resolution=64,
                  detect=False, overwrite=True)  # fmt: skip
    train_zip = prepare(PrepareConfig(output=str(workdir / f"{tag}-{count}.zip"), limit=count,
                                      **common)).output  # type: ignore[arg-type]  # fmt: skip
    every = prepare(PrepareConfig(output=str(workdir / f"{tag}-all.zip"),
                                  **common)).output  # type: ignore[arg-type]  # fmt: skip
    with zipfile.ZipFile(train_zip) as z:
        seen = {hashlib.sha256(z.read(n)).digest() for n in z.namelist() if n.endswith(".png")}
    held_out = workdir / f"{tag}-held-out.zip"
    with zipfile.ZipFile(every) as src, zipfile.ZipFile(held_out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith(".png") and hashlib.sha256(data).digest() not in seen:
                dst.writestr(name, data)
    return Path(train_zip), held_out


def fids(model: Path, references: list[Path], num: int = FID_IMAGES) -> list[float]:
    """FID of `num` samples of `model` at ψ = 1 against each reference (features drawn once)."""
    G = load(model)
    extractor = InceptionFeatures("cpu")
    spec = parse_metric_name(f"fid{num}")
    extractors = {INCEPTION: extractor}
    candidate = GeneratedImages(G, 1.0, extractors, {INCEPTION: num})
    return [
        evaluate_specs([spec], candidate, DatasetImages(ref, extractors, G.img_resolution))[
            spec.name
        ]
        for ref in references
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", default=str(SHARED / "data" / "adventurer-train-128.zip"))
    parser.add_argument("--tag", default="glasses")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 10.0])
    parser.add_argument("--base", default=str(bundled_model_path()))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--fid-images", type=int, default=FID_IMAGES)
    parser.add_argument("--outdir", default="small-data")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every variant")
    args = parser.parse_args()
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    train_zip, held_out = split_by_tag(Path(args.raw), args.tag, args.count, outdir)
    n_held = sum(n.endswith(".png") for n in zipfile.ZipFile(held_out).namelist())
    print(f"{train_zip}: training faces; {held_out}: {n_held} held-out faces", file=sys.stderr)

    refs = [train_zip, held_out]
    rows = [
        ["base", "0", "-", "-", *(f"{f:.1f}" for f in fids(Path(args.base), refs, args.fid_images))]
    ]
    grids = [load(args.base).sample(GRID_SEEDS, psi=1.0)]
    for index, name in enumerate(args.variants):
        run_out = outdir / f"variant{index}"
        clock = Clock(args.minutes, run_out)
        overrides = {k: (args.base if v == "BASE" else v) for k, v in VARIANTS[name].items()}
        opts = options_for_data(dict(
            data=str(train_zip), outdir=str(run_out), preset="cpu64", kimg=100000, mirror=True,
            snap=10**6, tick_kimg=1.0, seed=args.seed, **overrides,
        ))  # fmt: skip
        train(opts, on_step=clock)
        if not clock.saved:  # stopped (Ctrl-C) before its first checkpoint: report what exists
            print(f"{name}: stopped before {args.minutes[0]:g} minutes", file=sys.stderr)
            break
        for minute, kimg, p, model in clock.saved:
            scores = (f"{f:.1f}" for f in fids(model, refs, args.fid_images))
            rows.append([name, f"{minute:g}", f"{kimg:.1f}", f"{p:.2f}", *scores])
            print(rows[-1], file=sys.stderr, flush=True)
        grids.append(load(clock.saved[-1][3]).sample(GRID_SEEDS, psi=1.0))
    figure = outdir / "small-data.png"
    save_image(make_grid(np.concatenate(grids), len(GRID_SEEDS)), figure)
    print(f"grids (rows: base, {', '.join(args.variants)}): {figure}", file=sys.stderr)
    fid = f"FID-{args.fid_images}"
    headers = ["variant", "minutes", "kimg", "ADA p", f"{fid} vs {args.count} train",
               f"{fid} vs {n_held} held-out"]  # fmt: skip
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
