"""`waifugan export`: a checkpoint or run directory → one self-describing .safetensors model."""

from __future__ import annotations

import argparse
from typing import Any

from waifugan.cli import formatter


def register(subparsers: Any) -> None:
    """Add the `export` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="export G_ema as a .safetensors model",
        description="Write G_ema of a checkpoint (or a run directory's newest valid checkpoint) "
        "to one .safetensors file with the network configuration and w_avg in its metadata.",
        formatter_class=formatter,
    )
    p.add_argument("source", help="checkpoint-NNNNNN.pt or run directory")
    p.add_argument("-o", "--output", required=True, help="output .safetensors path")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export and report the file written."""
    from waifugan.export import export_model

    path = export_model(args.source, args.output)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
