"""`waifugan metrics`: FID, KID, tagfd and the face rate of a model (or a dataset) vs a dataset."""

from __future__ import annotations

import argparse

from waifugan.bundled import bundled_model_path
from waifugan.cli import add_device_option
from waifugan.metrics.evaluate import MetricsConfig, format_table, run_metrics
from waifugan.metrics.registry import METRICS, parse_metric_names

EPILOG = (
    """metrics (N = number of generated images, e.g. fid10k, kid2k, tagfd2k, facerate1k, fid500):
"""
    + "\n".join(f"  {name + '<N>':13}{m.description}" for name, m in METRICS.items())
    + """

examples:
  waifugan metrics runs/00003-adventurer-cpu64/checkpoint-000200.pt --data data64.zip
  waifugan metrics model.safetensors --data data64.zip --metrics fid2k,kid2k --device cpu
  waifugan metrics model.safetensors --data data64.zip --metrics fid2k,tagfd2k  # two opinions
  waifugan metrics --data half-a.zip --data2 half-b.zip --metrics fid1k   # real vs real
"""
)


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in --help (as waifugan.cli.formatter) and the epilog's lines kept as written."""


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the `metrics` subcommand."""
    p = subparsers.add_parser(
        "metrics",
        help="FID / KID / tagfd / anime face rate of a model against a dataset",
        description="Evaluate a model (or a second dataset) against a dataset with the standard\n"
        "Inception (2015-12-05) features, or a tagger's features (tagfd). Results of a model\n"
        "inside a run directory are appended to its metrics.jsonl. Protocol: docs/metrics.md.",
        epilog=EPILOG,
        formatter_class=lambda prog: _Formatter(prog, max_help_position=32, width=100),
    )
    p.add_argument(
        "model",
        nargs="?",
        help="model .safetensors, checkpoint .pt, run directory or --outdir of runs (default: the "
        "bundled model, unless --data2 is given)",
    )
    p.add_argument("--data", required=True, help="reference dataset (zip or folder)")
    p.add_argument("--data2", help="a second dataset to compare instead of a model")
    p.add_argument(
        "--metrics", default="fid,kid,facerate", help="comma-separated names (see below)"
    )
    p.add_argument("--num", type=int, default=10000, help="N for names given without one")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi of generated images")
    p.add_argument("--max-real", type=int, help="real images per metric (unset: the metric's N)")
    p.add_argument("--batch", type=int, default=64, help="images per feature batch")
    p.add_argument(
        "--tagger",
        help="tagger .safetensors whose features tagfd uses (unset: the bundled model's tagger; "
        "train one on your own tags with `waifugan train-tagger`)",
    )
    add_device_option(p)
    p.add_argument("--cache-dir", help="real-statistics cache (unset: $WAIFUGAN_CACHE/metrics)")
    p.add_argument("--no-log", action="store_true", help="do not append to metrics.jsonl")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Parse options, evaluate, print a table."""
    cfg = MetricsConfig(
        data=args.data,
        model=args.model or (None if args.data2 else str(bundled_model_path())),
        data2=args.data2,
        metrics=tuple(parse_metric_names(args.metrics, default_num=args.num)),
        psi=args.psi,
        max_real=args.max_real,
        batch_size=args.batch,
        tagger=args.tagger,
        device=args.device,
        cache_dir=args.cache_dir,
        log=not args.no_log,
    )
    report = run_metrics(cfg)
    print(format_table(report.results))
    if report.jsonl_path is not None:
        print(f"appended to {report.jsonl_path}")
    return 0
