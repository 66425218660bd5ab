"""`waifugan import`: a model file from another StyleGAN tool → a waifugan model."""

from __future__ import annotations

import argparse
from typing import Any

from waifugan.cli import formatter


def register(subparsers: Any) -> None:
    """Add the `import` subcommand."""
    p = subparsers.add_parser(
        "import",
        help="import a pretrained StyleGAN model from another tool",
        description="Read an NVlabs stylegan2-ada-pytorch/stylegan3 (StyleGAN2 config) "
        ".pkl, a TensorFlow StyleGAN2 or StyleGAN1 .pkl (e.g. the 2019 anime face model) or "
        "a rosinality .pt checkpoint without TensorFlow and without executing anything from "
        "the file; print what it holds and write a waifugan .safetensors model that every "
        "command accepts.",
        formatter_class=formatter,
    )
    p.add_argument("file", help="the foreign .pkl or .pt file")
    p.add_argument("-o", "--output", help="output .safetensors model (or .pt with --checkpoint)")
    p.add_argument(
        "--what",
        choices=["G_ema", "G", "D"],
        default="G_ema",
        help="network to write: G_ema (for sampling), G (the training generator) or D "
        "(discriminator weights + config, for inspection)",
    )
    p.add_argument(
        "--checkpoint",
        action="store_true",
        help="write a full training checkpoint (G, G_ema, D, fresh optimizer states) for "
        "`train --init` / `train --resume` instead of a model (StyleGAN2 files with a D)",
    )
    p.add_argument(
        "--print-only", action="store_true", help="only print what the file holds; write nothing"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import, report, write."""
    from waifugan.errors import WaifuganError
    from waifugan.interop import import_model
    from waifugan.interop.output import write_checkpoint, write_model

    if not args.print_only and not args.output:
        raise WaifuganError("give -o/--output (or --print-only to only inspect the file)")
    what = "G" if args.checkpoint else args.what  # a checkpoint needs G (and D, checked later)
    model = import_model(args.file, what=what)
    print(model.summary())
    if args.print_only:
        return 0
    if args.checkpoint:
        path = write_checkpoint(model, args.output)
    else:
        path = write_model(model, args.output, args.what)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0
