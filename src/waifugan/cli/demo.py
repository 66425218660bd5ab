"""`waifugan demo`: train briefly on the built-in faces, export, and draw a grid."""

from __future__ import annotations

import argparse
import time
from typing import Any

from waifugan.cli import add_device_option, formatter


def register(subparsers: Any) -> None:
    """Add the `demo` subcommand."""
    p = subparsers.add_parser(
        "demo",
        help="train a few minutes on the built-in faces and draw a grid",
        description="Train the cpu32 network on 600 built-in 32 px faces, export the model and "
        "draw a grid of faces. No data or downloads needed.",
        formatter_class=formatter,
    )
    p.add_argument("--outdir", default="demo-out", help="where to write the run, model and grid")
    p.add_argument("--kimg", type=float, default=15.0, help="training length in kimg")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from waifugan.demo import CREDIT, run_demo

    started = time.perf_counter()
    result = run_demo(args.outdir, args.kimg, args.device)
    minutes = (time.perf_counter() - started) / 60
    print(f"\ndemo finished in {minutes:.1f} min")
    print(
        f"  training run: {result.run_dir}  (fakes*.png show progress; TensorBoard: "
        f"tensorboard --logdir {result.run_dir.parent})"
    )
    print(f"  model:        {result.model}")
    print(f"  faces:        {result.grid}")
    print(f"  {CREDIT}")
    return 0
