"""`train(opts)`: create or reopen the run directory, build the loop, run it."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from waifugan.data.dataset import ImageDataset
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.train import distributed
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.loop import Evaluate, TrainingLoop
from waifugan.train.options import TrainOptions, type_problem
from waifugan.train.rundir import (
    OPTIONS_JSON,
    drop_stats_after,
    find_resume_checkpoint,
    hold_run_dir,
    latest_valid_checkpoint,
    new_run_dir,
    remove_stale_temp_files,
)


@dataclass(frozen=True)
class Resume:
    """A checkpoint to continue from, loaded (its options feed `options_for_data`)."""

    checkpoint: Path
    state: dict[str, Any]

    @property
    def options(self) -> dict[str, Any]:
        """The options the checkpoint was trained with."""
        return dict(self.state["options"])


def open_resume(resume: str, outdir: str | os.PathLike[str]) -> Resume:
    """`--resume latest` (newest valid checkpoint under outdir), `--resume RUN_DIR` (newest
    valid checkpoint of that run) or `--resume PATH` (that checkpoint)."""
    if resume == "latest":
        path, state = find_resume_checkpoint(outdir)
    elif Path(resume).is_dir():
        found = latest_valid_checkpoint(resume)
        if found is None:
            raise WaifuganError(f"--resume {resume}: no valid checkpoint in this run directory")
        path, state = found
    else:
        path, state = Path(resume), load_checkpoint(resume)
    problem = type_problem({k: v for k, v in state["options"].items() if k != "resolution"})
    if problem is not None:
        raise WaifuganError(f"{path}: the options saved in it are not valid: {problem}")
    return Resume(path, state)


def train(
    opts: TrainOptions,
    resume: Resume | None = None,
    evaluate: Evaluate | None = None,
    on_step: Callable[[TrainingLoop], None] | None = None,
    stop_at: float | None = None,
) -> Path:
    """Train with resolved options (continuing `resume` when given); returns the run directory.

    Args:
        opts: from `options_for_data` (flag ← resumed ← preset, coded in train/options.py).
        resume: the checkpoint to continue; its run directory receives the new snapshots.
        evaluate: computes opts.metrics for G_ema at snapshots (metrics.registry provides one).
        on_step: called after every step (tests use it to interrupt a run).
        stop_at: a time.time() at which to stop early, with a fakes grid and a checkpoint.

    Launched by `distributed.launch` or torchrun, every process calls this and joins the group.
    """
    if opts.metrics and evaluate is None:
        raise WaifuganError(
            f"metrics {', '.join(opts.metrics)} need an evaluator: pass "
            "evaluate=waifugan.metrics.registry.snapshot_evaluator(opts.metrics, opts.data)"
        )
    dist_info, device = distributed.init_from_env(resolve_device(opts.device), opts.dist_timeout_s)
    try:
        run_dir = _train(opts, resume, evaluate, on_step, stop_at, device, dist_info)
        distributed.finish(dist_info)
        return run_dir
    finally:
        distributed.shutdown()


def _train(
    opts: TrainOptions,
    resume: Resume | None,
    evaluate: Evaluate | None,
    on_step: Callable[[TrainingLoop], None] | None,
    stop_at: float | None,
    device: torch.device,
    dist_info: distributed.DistInfo,
) -> Path:
    if device.type == "cuda":
        # Fixed shapes: let cuDNN time its kernels and keep the fastest (not under
        # torch.use_deterministic_algorithms, where exact repeats matter more than speed).
        torch.backends.cudnn.benchmark = not torch.are_deterministic_algorithms_enabled()
        # TF32 off, as NVlabs: FP16 runs the costly high-resolution blocks; TF32 would speed up
        # only the small FP32 ones, at 10-bit mantissas in the R1 and path-length gradients.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if opts.batch % dist_info.world_size:
        raise WaifuganError(f"--batch {opts.batch} is not divisible by {dist_info.world_size} GPUs")
    dataset = ImageDataset(opts.data, mirror=opts.mirror)
    if resume is not None:
        run_dir = resume.checkpoint.parent
        if dist_info.is_main:
            kimg = resume.state["cur_nimg"] / 1000
            print(f"resuming from {resume.checkpoint} ({kimg:.3f} kimg)")
    else:
        run_dir = _create_run(Path(opts.outdir), dataset.name, opts, dist_info)
    # One trainer per run: a second one is refused before it touches the run's files.
    with hold_run_dir(run_dir) if dist_info.is_main else contextlib.nullcontext():
        state = resume.state if resume is not None else None
        try:
            loop = TrainingLoop(
                opts, run_dir, dataset, device, dist_info, state, on_step, evaluate, stop_at
            )
        except (WaifuganError, KeyError, TypeError, ValueError) as error:
            if resume is None or str(resume.checkpoint) in str(error):
                raise
            # weights that do not fit the options, an optimizer state that does not fit them
            raise WaifuganError(f"{resume.checkpoint}: cannot be resumed: {error}") from error
        if dist_info.is_main:
            if resume is not None:
                _tidy_resumed_run(run_dir, loop)
            else:
                options = {**opts.to_dict(), "num_params": loop.num_params}
                if loop.started_from is not None:  # --init: the source and what it provided
                    options["started_from"] = loop.started_from
                (run_dir / OPTIONS_JSON).write_text(json.dumps(options, indent=2) + "\n")
            split = loop.split
            processes = f" x {dist_info.world_size} processes" if dist_info.world_size > 1 else ""
            loop.log.line(
                f"run {run_dir} on {device}{processes}: {len(dataset)} images at "
                f"{dataset.resolution}px, batch {opts.batch} ({split.total} chunks of "
                f"{split.batch_gpu}), {opts.kimg} kimg{_time_limit(stop_at)}"
            )
        loop.run()
    return run_dir


def _time_limit(stop_at: float | None) -> str:
    if stop_at is None:
        return ""
    return f" or until {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(stop_at))} (--minutes)"


def _tidy_resumed_run(run_dir: Path, loop: TrainingLoop) -> None:
    """After a kill: remove interrupted checkpoint writes and the stats of lost ticks."""
    for path in remove_stale_temp_files(run_dir):
        loop.log.line(f"removed {path.name}, a checkpoint write that was interrupted")
    dropped = drop_stats_after(run_dir, loop.cur_nimg)
    if dropped:
        loop.log.line(f"dropped {dropped} stats.jsonl line(s) past the checkpoint (redone now)")


def _create_run(
    outdir: Path, dataset_name: str, opts: TrainOptions, dist_info: distributed.DistInfo
) -> Path:
    run_dir = new_run_dir(outdir, dataset_name, opts.preset) if dist_info.is_main else None
    return Path(distributed.broadcast_str(str(run_dir) if run_dir else None, dist_info))
