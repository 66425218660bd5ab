"""`waifugan prepare`: raw anime illustrations → a clean training dataset."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from typing import Any

from waifugan.cli import formatter
from waifugan.prepare.config import (
    BORDER_MODES,
    FIT_MODES,
    FORMATS,
    RESIZE_FILTERS,
    UPSCALERS,
    WAIFU2X_MODELS,
    PrepareConfig,
)
from waifugan.prepare.report import summary_text

NAME = "prepare"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(subparsers: Any) -> None:
    """Add the `prepare` subcommand."""
    p = subparsers.add_parser(
        NAME,
        help="raw illustrations → training dataset (faces, cleaning, dedup, upscale)",
        description="Turn folders, zips or a Danbooru dump of anime illustrations into a "
        "training dataset: a zip (or folder) of square PNG/JPEG faces with dataset.json "
        "(NVlabs stylegan2-ada layout) and manifest.jsonl, plus a report with every rejected "
        "file and its reason. Parallel and resumable: rerun the same command after a crash.",
        formatter_class=formatter,
    )
    d = PrepareConfig(sources=("-",), output="-")  # the defaults, shown in --help
    p.add_argument("sources", nargs="+", metavar="SRC", help="folders, zips or images")
    p.add_argument("-o", "--output", required=True, help="OUT.zip or an output folder")
    p.add_argument("--resolution", type=int, default=d.resolution, help="output side (px), 2^k")
    g = p.add_argument_group("Danbooru metadata selection")
    g.add_argument(
        "--metadata",
        action="append",
        default=[],
        metavar="FILE",
        help="Danbooru JSON-lines file (repeat for several)",
    )
    g.add_argument("--tags", type=_csv, default=(), help="comma list: all required")
    g.add_argument("--exclude-tags", type=_csv, default=(), help="comma list: none allowed")
    g.add_argument(
        "--rating", dest="ratings", type=_csv, default=(), help="comma list of s,q,e (g)"
    )
    g.add_argument("--min-score", type=int, default=None, help="minimum Danbooru score")
    g.add_argument("--limit", type=int, default=None, help="at most this many input images")
    g = p.add_argument_group("decode")
    g.add_argument("--max-pixels", type=int, default=d.max_pixels, help="decompression bomb limit")
    g = p.add_argument_group("faces")
    g.add_argument(
        "--detect",
        action=argparse.BooleanOptionalAction,
        default=d.detect,
        help="crop anime faces (off: images are already faces)",
    )
    g.add_argument("--cascade", default=None, help="cascade XML (default: the asset)")
    g.add_argument("--scale-factor", type=float, default=d.scale_factor, help="cascade scaleFactor")
    g.add_argument(
        "--min-neighbors", type=int, default=d.min_neighbors, help="cascade minNeighbors"
    )
    g.add_argument(
        "--detect-min-size", type=int, default=d.detect_min_size, help="cascade minSize px"
    )
    g.add_argument("--margin", type=float, default=d.margin, help="crop = box * (1 + margin)")
    g.add_argument("--shift-up", type=float, default=d.shift_up, help="move crop up (x box h)")
    g.add_argument("--border", choices=BORDER_MODES, default=d.border, help="crop past the edge")
    g.add_argument("--min-face", type=int, default=d.min_face, help="drop faces smaller (px)")
    g.add_argument("--fit", choices=FIT_MODES, default=d.fit, help="non-square with --no-detect")
    g = p.add_argument_group("filters")
    g.add_argument(
        "--filter-blank",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop blank/near-uniform images",
    )
    g.add_argument("--blank-std-max", type=float, default=d.blank_std_max, help="luma std limit")
    g.add_argument(
        "--filter-grayscale",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop grayscale-looking images",
    )
    g.add_argument("--gray-chroma-max", type=float, default=d.gray_chroma_max, help="mean chroma")
    g.add_argument(
        "--filter-monochrome",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop one-tint (sepia, monochrome) images",
    )
    g.add_argument("--mono-spread-max", type=float, default=d.mono_spread_max, help="colour spread")
    g.add_argument("--min-size", type=int, default=d.min_size, help="drop crops with short side <")
    g = p.add_argument_group("deduplicate")
    g.add_argument(
        "--dedup",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="drop exact and near duplicates (first kept)",
    )
    g.add_argument("--dedup-distance", type=int, default=d.dedup_distance, help="pHash bits")
    g.add_argument(
        "--dedup-diff-max",
        type=float,
        default=d.dedup_diff_max,
        help="confirm pHash matches: p99 pixel difference of 16x16 thumbnails",
    )
    g = p.add_argument_group("upscale and resize")
    g.add_argument(
        "--upscale",
        choices=UPSCALERS,
        default=d.upscale,
        help="small crops; auto: waifu2x when its weights are available, else lanczos",
    )
    g.add_argument("--waifu2x-weights", default=None, help="UpConv7 .npz (default: the asset)")
    g.add_argument(
        "--waifu2x-model",
        choices=WAIFU2X_MODELS,
        default=d.waifu2x_model,
        help="scale, or noise1 (also removes light JPEG noise)",
    )
    g.add_argument("--device", default=d.device, help="torch device for waifu2x, or auto")
    g.add_argument("--tile-size", type=int, default=d.tile_size, help="waifu2x tile (px)")
    g.add_argument(
        "--resize-filter",
        choices=RESIZE_FILTERS,
        default=d.resize_filter,
        help="filter of the final resize",
    )
    g = p.add_argument_group("augment and write")
    g.add_argument("--augment", type=int, default=d.augment, help="extra copies per image")
    g.add_argument("--seed", type=int, default=d.seed, help="augmentation seed")
    g.add_argument("--format", choices=FORMATS, default=d.format, help="image format")
    g.add_argument("--quality", type=int, default=d.quality, help="JPEG quality")
    g.add_argument("--png-compress-level", type=int, default=d.png_compress_level, help="0..9")
    g.add_argument("--overwrite", action="store_true", help="replace an existing output")
    g.add_argument("--report-dir", default=None, help="default: OUT-report/ next to OUT")
    g.add_argument(
        "--reject-sheet",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also write rejects.png",
    )
    g = p.add_argument_group("running")
    g.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes")
    g.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bar"
    )
    p.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> PrepareConfig:
    """Namespace → validated PrepareConfig (option dests are the config's field names)."""
    values = {f.name: getattr(args, f.name) for f in fields(PrepareConfig) if hasattr(args, f.name)}
    values["sources"] = tuple(args.sources)
    values["metadata"] = tuple(args.metadata)
    return PrepareConfig(**values)


def run(args: argparse.Namespace) -> int:
    """Parse → PrepareConfig → prepare() → print the summary."""
    from waifugan.prepare.pipeline import prepare

    result = prepare(config_from_args(args))
    print(summary_text(result.report.to_dict(result.output), result.report_dir), end="")
    return 0
