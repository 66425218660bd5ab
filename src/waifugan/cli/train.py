"""`waifugan train`: StyleGAN2 training with presets; every option overridable by a flag."""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from waifugan.cli import formatter
from waifugan.errors import WaifuganError
from waifugan.train.augment import AUGPIPES
from waifugan.train.options import PRESETS, TrainOptions

# flag → (option name, type, help). Defaults come from the preset, shown in --help.
_FLAGS: list[tuple[str, str, type, str]] = [
    ("--kimg", "kimg", float, "training length in thousands of real images"),
    ("--tick", "tick_kimg", float, "progress/log interval in kimg"),
    ("--snap", "snap", int, "snapshot (fakes grid + checkpoint) every N ticks"),
    ("--batch", "batch", int, "total batch size over all devices"),
    ("--gamma", "gamma", float, "R1 regularization weight"),
    ("--glr", "glr", float, "G learning rate"),
    ("--dlr", "dlr", float, "D learning rate"),
    ("--map-depth", "map_depth", int, "mapping network depth"),
    ("--map-lr-mult", "map_lr_mult", float, "mapping network lr relative to G's (StyleGAN: 0.01)"),
    ("--cbase", "cbase", int, "channel base (channels = min(cbase/res, cmax))"),
    ("--cmax", "cmax", int, "maximum channels per layer"),
    ("--d-cbase", "d_cbase", int, "D's channel base if not --cbase"),
    ("--d-cmax", "d_cmax", int, "D's maximum channels if not --cmax"),
    ("--z-dim", "z_dim", int, "latent z size"),
    ("--w-dim", "w_dim", int, "latent w size"),
    ("--ema-kimg", "ema_kimg", float, "G_ema half-life in kimg"),
    ("--pl-weight", "pl_weight", float, "path-length regularization weight (0 = off)"),
    ("--style-mixing", "style_mixing", float, "style-mixing probability"),
    ("--fp16-res", "num_fp16_res", int, "highest N resolutions in FP16 on CUDA"),
    ("--seed", "seed", int, "random seed"),
    ("--workers", "workers", int, "data loader worker processes"),
    ("--metrics-every", "metrics_every", int, "evaluate --metrics every N snapshots"),
    ("--p", "p", float, "augmentation probability: with --aug fixed, or where ADA starts"),
    ("--target", "target", float, "ADA target for E[sign(D(real))]"),
    ("--ada-kimg", "ada_kimg", float, "ADA speed: p can go 0 → 1 in this many kimg"),
    ("--freezed", "freezed", int, "Freeze-D: keep the first N D blocks (from the input) fixed"),
    (
        "--diffaug",
        "diffaug",
        str,
        "DiffAugment on everything D sees: color,translation,cutout or none",
    ),
    ("--keep", "keep", int, "keep only the newest N checkpoints (0 = all); never the one a "
     "resume needs"),
    ("--keep-every", "keep_every_kimg", float, "with --keep: also keep the first checkpoint of "
     "every M kimg (0 = none)"),
]  # fmt: skip


def _preset_default(option: str) -> str:
    values = {
        name: preset.values.get(option, getattr(TrainOptions, option, None))
        for name, preset in PRESETS.items()
    }
    return "default from --preset: " + ", ".join(f"{k} {v}" for k, v in values.items())


def _fine_tune_defaults() -> str:
    """The presets' own values for runs started with --init, e.g. 'cpu64: glr 0.0025, ...'."""
    return "; ".join(
        f"{name}: " + ", ".join(f"{k} {v}" for k, v in preset.fine_tune.items())
        for name, preset in PRESETS.items()
        if preset.fine_tune
    )


def register(subparsers: Any) -> None:
    """Add the `train` subcommand."""
    p = subparsers.add_parser(
        "train",
        help="train StyleGAN2 on a dataset",
        description="Train StyleGAN2 on a dataset (zip or folder of same-size square images). "
        "A numbered run directory under --outdir receives options.json, log.txt, stats.jsonl, "
        "TensorBoard events, fakes grids and checkpoints. Ctrl-C checkpoints and exits.",
        formatter_class=formatter,
    )
    p.add_argument("--data", help="dataset zip or folder (optional with --resume)")
    p.add_argument("--outdir", default="runs", help="parent folder of the run directories")
    p.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help="option preset (default: cpu64, or the resumed run's)",
    )
    for flag, option, kind, text in _FLAGS:
        p.add_argument(
            flag, dest=option, type=kind, default=None, help=f"{text} ({_preset_default(option)})"
        )
    p.add_argument(
        "--mirror",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="add x-flipped copies of the dataset (default: off)",
    )
    p.add_argument(
        "--noise",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"per-pixel noise inputs in G ({_preset_default('noise')})",
    )
    p.add_argument(
        "--metrics",
        default=None,
        help="metrics at snapshots, e.g. fid2k,kid2k, or none (default: none on CPU presets, "
        "fid50k on GPU presets)",
    )
    p.add_argument(
        "--aug",
        choices=["ada", "fixed", "none"],
        default=None,
        help="augment everything D sees: ada adapts p to D's overfitting, fixed uses --p "
        "(default: ada on GPU presets and with --init; none on CPU presets, which use "
        "--diffaug when training from scratch)",
    )
    p.add_argument(
        "--augpipe",
        choices=list(AUGPIPES),
        default=None,
        help="augmentations: b = flips, 90° rotations, integer translation; g = scaling, "
        "rotation, fractional translation; c = colour (default: bgc)",
    )
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: auto)")
    _add_process_arguments(p)
    p.add_argument(
        "--resume",
        default=None,
        metavar="latest|RUN_DIR|PATH",
        help="continue a run: 'latest' = newest valid checkpoint under --outdir, a run "
        "directory = its newest valid checkpoint, or a checkpoint file",
    )
    p.add_argument(
        "--init",
        default=None,
        metavar="PATH",
        help="transfer learning: start from this checkpoint's or model's weights with "
        "counters at zero (e.g. on a new dataset); the network shape comes from it, parameters "
        "that do not fit start fresh (a table says which), a model file (G only) starts D "
        "fresh, EMA ramp-up is off, ADA replaces DiffAugment, and some presets fine-tune with "
        f"values of their own ({_fine_tune_defaults()})",
    )
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        metavar="M",
        help="stop after M minutes of wall time from this command's start, before --kimg if "
        "need be, with a fakes grid and a checkpoint (exit 0); for job time limits and "
        "notebook sessions. Applies to this command only: --resume latest continues the run",
    )
    p.add_argument(
        "--restarts",
        type=int,
        default=0,
        metavar="N",
        help="run training as a child process and rerun it with --resume after a crash (a "
        "non-zero exit other than 2, a refusal with a message, or killed by a signal other than "
        "SIGINT/SIGTERM), up to N times; a crash at the same kimg twice in a row stops",
    )
    p.add_argument(
        "--restart-delay",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="wait before the first restart; doubled after each (at most 600 s)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the resolved options and exit")
    p.set_defaults(func=run, train_parser=p)


def child_args(args: argparse.Namespace, parser: argparse.ArgumentParser) -> list[str]:
    """The given options spelled out again, less --restarts: what a supervised child runs."""
    out: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if not action.option_strings or value is None or action.dest in _NOT_FOR_CHILD:
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            out.append(action.option_strings[0 if value else 1])  # --mirror / --no-mirror
        else:
            out += [action.option_strings[0], str(value)]
    return out


# The supervisor passes the time left as --minutes to each child it starts.
_NOT_FOR_CHILD = {"help", "restarts", "restart_delay", "dry_run", "minutes"}


def _add_process_arguments(p: argparse.ArgumentParser) -> None:
    """--gpus, --batch-gpu, precision and the process-group timeout."""
    p.add_argument(
        "--gpus",
        type=int,
        default=None,
        metavar="N",
        help="processes on this machine, one per GPU (default: every visible GPU; 1 on CPU); "
        "with --device cpu, N CPU processes over gloo. Under torchrun, torchrun decides",
    )
    p.add_argument(
        "--batch-gpu",
        dest="batch_gpu",
        type=int,
        default=None,
        metavar="N",
        help="images per process per pass; below its share of --batch the gradients of several "
        "passes accumulate (default: the share, batch / processes)",
    )
    p.add_argument(
        "--precision",
        choices=["fp16", "bf16", "fp32"],
        default=None,
        help="the --fp16-res highest resolutions on CUDA: fp16 (clamped, overflow-guarded), bf16, "
        "or fp32 everywhere (default: fp16)",
    )
    p.add_argument(
        "--fp32",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="same as --precision fp32 (default: off)",
    )
    p.add_argument(
        "--channels-last",
        dest="channels_last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="NHWC activations in the mixed-precision blocks (default: off)",
    )
    p.add_argument(
        "--dist-timeout",
        dest="dist_timeout_s",
        type=float,
        default=None,
        metavar="SECONDS",
        help="with several processes, one silent this long (hung, or its machine gone) stops "
        "the run with a message (default: 1800)",
    )


def _precision(args: argparse.Namespace) -> str | None:
    if args.fp32 and args.precision not in (None, "fp32"):
        raise WaifuganError(f"--fp32 contradicts --precision {args.precision}")
    return "fp32" if args.fp32 else args.precision


def train_process(opts: TrainOptions, resume_path: str | None, stop_at: float | None) -> None:
    """One of the processes `--gpus N` starts: opens the checkpoint, joins the group, trains
    (until `stop_at`, a time.time(), when given)."""
    from waifugan.metrics.registry import snapshot_evaluator
    from waifugan.train.run import open_resume, train

    resume = open_resume(resume_path, opts.outdir) if resume_path else None
    evaluate = snapshot_evaluator(opts.metrics, opts.data) if opts.metrics else None
    run_dir = train(opts, resume, evaluate, stop_at=stop_at)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"run directory: {run_dir}")


def run(args: argparse.Namespace) -> int:
    """Resolve flags into TrainOptions and train."""
    from waifugan.metrics.registry import snapshot_evaluator
    from waifugan.train import distributed
    from waifugan.train.options import options_for_data
    from waifugan.train.run import open_resume

    if args.restarts < 0:
        raise WaifuganError(f"--restarts must be ≥ 0, got {args.restarts}")
    if args.minutes is not None and not args.minutes > 0:
        raise WaifuganError(f"--minutes must be > 0, got {args.minutes}")
    stop_at = None if args.minutes is None else time.time() + 60 * args.minutes
    if args.restarts > 0 and not args.dry_run:  # the child checks the options
        from waifugan.train.supervise import supervise

        return supervise(child_args(args, args.train_parser), args.outdir, args.restarts,
                         args.restart_delay, stop_at)  # fmt: skip
    overrides = {option: getattr(args, option) for _, option, _, _ in _FLAGS}
    overrides.update(
        data=args.data, outdir=args.outdir, preset=args.preset, mirror=args.mirror,
        metrics=args.metrics, device=args.device, init=args.init, aug=args.aug,
        augpipe=args.augpipe, noise=args.noise, batch_gpu=args.batch_gpu,
        precision=_precision(args), channels_last=args.channels_last,
        dist_timeout_s=args.dist_timeout_s,
    )  # fmt: skip
    resume = open_resume(args.resume, args.outdir) if args.resume else None
    opts = options_for_data(overrides, resume.options if resume else None)
    snapshot_evaluator(opts.metrics, opts.data) if opts.metrics else None  # checks the names
    if args.dry_run:
        print(opts.to_json())
        return 0
    nproc = distributed.process_count(args.gpus, opts.device)
    resume_path = str(resume.checkpoint) if resume else None
    del resume  # each process loads the checkpoint itself
    if nproc > 1:
        return distributed.launch(nproc, train_process, (opts, resume_path, stop_at))
    try:
        train_process(opts, resume_path, stop_at)
    except distributed.RankLostError as error:  # under torchrun: one of several processes
        print(f"waifugan train: error: {error}", file=sys.stderr)
        return distributed.EXIT_LOST
    return 0
