"""`waifugan train-tagger` and `waifugan tag`: the tagger behind every face's character card."""

from __future__ import annotations

import argparse
import json

from waifugan.cli import add_device_option, formatter
from waifugan.networks.sampling import DEFAULT_PSI

ADVENTURER_HINT = "--exclude-tags '*_variant*'"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `train-tagger` and `tag` subcommands."""
    _register_train(subparsers)
    _register_tag(subparsers)


def _register_train(subparsers: argparse._SubParsersAction) -> None:
    from waifugan.cards.train import TaggerTrainOptions

    d = TaggerTrainOptions(data="")
    p = subparsers.add_parser(
        "train-tagger",
        help="train the tagger that sees Danbooru-style tags in faces",
        description="Train a small multi-label CNN on a dataset's own tags (Danbooru metadata "
        "JSON lines) and report per-tag precision and recall on a held-out split, next to the "
        "majority-class baseline. Writes OUTPUT (.safetensors: weights, tag list, config, "
        "scores) and OUTPUT-report.txt. Image ids are the manifest's danbooru_id or the file "
        f"stem. For the adventurer set add {ADVENTURER_HINT} (its sprite ids are not traits).",
        formatter_class=formatter,
    )
    p.add_argument("--data", required=True, help="dataset zip or folder")
    p.add_argument(
        "--metadata",
        action="append",
        default=[],
        help="Danbooru JSON lines (file or zip; repeatable); default: *.jsonl inside --data",
    )
    p.add_argument("-o", "--output", default=d.output, help="tagger file to write")
    p.add_argument("--report", default=None, help="text report (default: OUTPUT-report.txt)")
    p.add_argument("--resolution", type=int, default=d.resolution, help="side the tagger sees")
    p.add_argument("--min-count", type=int, default=d.min_count, help="learn tags on ≥N images")
    p.add_argument(
        "--exclude-tags", action="append", default=None, help="glob of tags not to learn"
    )
    p.add_argument("--max-tags", type=int, default=d.max_tags, help="most frequent N tags")
    p.add_argument("--max-images", type=int, default=None, help="first N labelled images only")
    p.add_argument("--holdout", type=float, default=d.holdout, help="held-out share")
    p.add_argument("--epochs", type=int, default=d.epochs, help="passes over the training split")
    p.add_argument("--batch", type=int, default=d.batch, help="images per step")
    p.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate (cosine decay)")
    p.add_argument("--threshold", type=float, default=d.threshold, help="tag probability")
    p.add_argument(
        "--no-balance",
        action="store_true",
        help="plain BCE (default: positives of rare tags weigh sqrt(negatives/positives))",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="split, init and shuffle seed")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    add_device_option(p)
    p.set_defaults(func=run_train)


def _register_tag(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "tag",
        help="print the tags a tagger sees in a model's faces or in images",
        description="Print tags with confidences. A model (.safetensors, checkpoint or run "
        "directory) is drawn from at --seeds and --psi and each face gets its card (name, tags, "
        "story); images (files, folders, zips) get their tags. The tagger is --tagger, or the "
        "MODEL.tagger.safetensors a model carries beside it.",
        formatter_class=formatter,
    )
    p.add_argument("inputs", nargs="+", metavar="MODEL_OR_IMAGES", help="a model, or images")
    p.add_argument("--tagger", default=None, help="tagger .safetensors (train-tagger's output)")
    p.add_argument("--seeds", default="0-3", help="seeds of a model's faces, e.g. 0-3,42")
    p.add_argument(
        "--psi", type=float, default=DEFAULT_PSI, help="truncation psi of a model's faces"
    )
    p.add_argument("--threshold", type=float, default=0.5, help="show tags at least this sure")
    p.add_argument("--story-model", default=None, help="local causal LM folder for the stories")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_device_option(p)
    p.set_defaults(func=run_tag)


def run_train(args: argparse.Namespace) -> int:
    """Train, then print the report."""
    from waifugan.cards.train import TaggerTrainOptions, train_tagger

    opts = TaggerTrainOptions(
        data=args.data, output=args.output, metadata=tuple(args.metadata), report=args.report,
        resolution=args.resolution, min_count=args.min_count,
        exclude_tags=tuple(args.exclude_tags or ()), max_tags=args.max_tags,
        max_images=args.max_images, holdout=args.holdout, epochs=args.epochs,
        batch=args.batch, lr=args.lr, threshold=args.threshold, balance=not args.no_balance,
        seed=args.seed,
        device=args.device, threads=args.threads,
    )  # fmt: skip
    path, _ = train_tagger(opts)
    print(opts.report_path.read_text(encoding="utf-8"), end="")
    print(f"wrote {path} and {opts.report_path}")
    return 0


def _format_tags(tags: tuple[tuple[str, float], ...] | list[tuple[str, float]]) -> str:
    return ", ".join(f"{tag} {conf:.2f}" for tag, conf in tags) or "(no tag)"


def run_tag(args: argparse.Namespace) -> int:
    """Print one block per face (models) or one line per image."""
    from waifugan.cards.tag import find_tagger, is_model, make_writer, model_cards, tag_files
    from waifugan.errors import WaifuganError
    from waifugan.generate.images import parse_seeds

    models = [path for path in args.inputs if is_model(path)]
    if models and len(args.inputs) > 1:
        raise WaifuganError("give one model, or any number of images, not both")
    tagger = find_tagger(args.tagger, models[0] if models else None, args.device)
    writer = make_writer(tagger, args.story_model, args.threshold, args.device)
    if models:
        for card in model_cards(models[0], writer, parse_seeds(args.seeds), args.psi, args.device):
            if args.json:
                print(json.dumps(card.to_json()))
            else:
                print(f"seed {card.seed} psi {card.psi:.2f}: {card.name}")
                print(f"  tags: {_format_tags(card.tags)}")
                print(f"  {card.story}\n")
        return 0
    failed = 0
    for row in tag_files(args.inputs, writer):
        failed += row.error is not None
        if args.json:
            tags = [{"tag": t, "confidence": round(c, 3)} for t, c in row.tags]
            print(json.dumps({"image": row.key, "tags": tags, "error": row.error}))
        else:
            print(f"{row.key}: {row.error and 'skipped: ' + row.error or _format_tags(row.tags)}")
    return 1 if failed else 0
