"""`waifugan generate`: faces from seeds with the truncation trick, as PNGs and/or a grid."""

from __future__ import annotations

import argparse
from typing import Any

from waifugan.cli import add_device_option, add_model_argument, formatter
from waifugan.networks.sampling import DEFAULT_PSI


def register(subparsers: Any) -> None:
    """Add the `generate` subcommand."""
    p = subparsers.add_parser(
        "generate",
        help="draw faces from seeds",
        description="Draw faces from seeds. MODEL is a .safetensors model, a checkpoint or a run "
        "directory (its newest checkpoint). Seed s uses z = RandomState(s).randn(z_dim), as the "
        "NVlabs tools do.",
        formatter_class=formatter,
    )
    add_model_argument(p)
    p.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-15,42")
    p.add_argument(
        "--psi", type=float, default=DEFAULT_PSI, help="truncation ψ (1 = none, 0 = average face)"
    )
    p.add_argument(
        "--trunc-cutoff",
        type=int,
        default=None,
        help="truncate only the first N layers (default: all)",
    )
    p.add_argument(
        "--noise-mode", choices=["const", "random", "none"], default="const", help="per-pixel noise"
    )
    p.add_argument("--outdir", default="out", help="output folder")
    p.add_argument(
        "--grid",
        type=int,
        default=None,
        metavar="COLS",
        help="also write grid.png with COLS columns",
    )
    p.add_argument(
        "--no-singles", action="store_true", help="write only the grid, no seedNNNN.png files"
    )
    p.add_argument("--batch", type=int, default=16, help="images per forward pass")
    add_device_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate and report where the files are."""
    from waifugan.generate.images import GenerateOptions, generate_images, parse_seeds

    opts = GenerateOptions(
        model=args.model, seeds=tuple(parse_seeds(args.seeds)), psi=args.psi,
        truncation_cutoff=args.trunc_cutoff, noise_mode=args.noise_mode, outdir=args.outdir,
        grid_cols=args.grid, singles=not args.no_singles, batch=args.batch, device=args.device,
    )  # fmt: skip
    written = generate_images(opts)
    print(f"wrote {len(written)} file(s) to {args.outdir}")
    return 0
