"""`waifugan demo`: the bundled model shown off, then fine-tuned on the built-in faces."""

from __future__ import annotations

import argparse
import time
from typing import Any

from waifugan.cli import add_device_option, formatter


def register(subparsers: Any) -> None:
    """Add the `demo` subcommand."""
    from waifugan.demo import DEMO_TAG, FINE_TUNE_KIMG

    p = subparsers.add_parser(
        "demo",
        help="show the bundled model, then fine-tune it on built-in faces with one tag",
        description="Draw a grid, a latent-walk video and a style-mixing grid from the bundled "
        f"model; then select the built-in faces tagged {DEMO_TAG} with prepare --tags, "
        "fine-tune the bundled model on them (train --init, ADA, Freeze-D) and draw the same "
        "seeds before and after. No data or downloads needed.",
        formatter_class=formatter,
    )
    p.add_argument("--outdir", default="demo-out", help="where to write everything")
    p.add_argument("--kimg", type=float, default=FINE_TUNE_KIMG, help="fine-tuning length in kimg")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print where everything is."""
    from waifugan.demo import CREDIT, run_demo

    started = time.perf_counter()
    result = run_demo(args.outdir, args.kimg, args.device)
    minutes = (time.perf_counter() - started) / 60
    print(f"\ndemo finished in {minutes:.1f} min")
    for name, path in result.outputs.items():
        print(f"  {name + ':':<18}{path}")
    print("  the page:         waifugan serve   (then open http://127.0.0.1:8000/)")
    print(f"  {CREDIT}")
    return 0
