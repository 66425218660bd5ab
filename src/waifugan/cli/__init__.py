"""The `waifugan` command: one thin subcommand module per pipeline stage.

Each module in COMMANDS defines `register(subparsers)`, which adds its parser and sets
`func=run` where `run(args) -> int` parses options into a config, makes one library call and
reports. No pipeline logic lives in this package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import waifugan
from waifugan.bundled import BUNDLED_NAME, bundled_model_path
from waifugan.errors import WaifuganError

# Order here is the order shown in `waifugan --help`.
COMMANDS = [
    "waifugan.cli.prepare",
    "waifugan.cli.train",
    "waifugan.cli.export",
    "waifugan.cli.import_",
    "waifugan.cli.generate",
    "waifugan.cli.show",
    "waifugan.cli.metrics",
    "waifugan.cli.serve",
    "waifugan.cli.tagger",
    "waifugan.cli.demo",
]


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every available subcommand."""
    parser = argparse.ArgumentParser(
        prog="waifugan",
        description="Anime illustrations in, a StyleGAN2 that draws new anime faces out.",
    )
    parser.add_argument("--version", action="version", version=f"waifugan {waifugan.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:  # a real missing dependency inside the module: surface it
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `waifugan` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except WaifuganError as error:
        print(f"waifugan {args.command}: error: {error}", file=sys.stderr)
        return 2


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends "(default: X)" unless the help already names its default or X is None/False."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if "default" in text or action.default in (None, False, argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """The MODEL positional of every command that draws faces; omitted, the bundled model."""
    parser.add_argument(
        "model",
        nargs="?",
        default=str(bundled_model_path()),
        help=".safetensors model, checkpoint, run directory or --outdir of runs (default: the "
        f"bundled {BUNDLED_NAME} model, see `waifugan generate` with no MODEL)",
    )


def add_device_option(parser: argparse.ArgumentParser) -> None:
    """The --device option of every command that runs a network (resolved by devices.py)."""
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help formatter that shows every option's default."""
    return _DefaultsFormatter(prog, max_help_position=32, width=100)
