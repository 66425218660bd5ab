"""`waifugan train`: resolve options, create or reopen the run directory, run the loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from waifugan.data.dataset import ImageDataset
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.train import distributed
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.loop import TrainingLoop
from waifugan.train.options import TrainOptions, resolve_options
from waifugan.train.rundir import OPTIONS_JSON, find_resume_checkpoint, new_run_dir


def train(
    flags: dict[str, Any],
    resume: str | None = None,
    dry_run: bool = False,
    on_step: Callable[[TrainingLoop], None] | None = None,
) -> Path:
    """Train (or, with dry_run, only print options); returns the run directory.

    Args:
        flags: option values the user gave (None = not given): data, outdir, preset, batch...
        resume: "latest" (newest valid checkpoint under outdir) or a checkpoint path.
        dry_run: print the resolved options and exit without training.
        on_step: called after every step (tests use it to interrupt a run).
    """
    device = resolve_device(flags.get("device") or "auto")
    dist_info = distributed.init_from_env(device)
    if dist_info.world_size > 1 and device.type == "cuda":
        device = resolve_device("auto", dist_info.local_rank)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest kernels
    state, run_dir = None, None
    outdir = Path(flags.get("outdir") or "runs")
    if resume is not None:
        if resume == "latest":
            checkpoint_path, state = find_resume_checkpoint(outdir, device)
        else:
            checkpoint_path, state = Path(resume), load_checkpoint(resume, device)
        run_dir = checkpoint_path.parent
        print(f"resuming from {checkpoint_path} ({state['cur_nimg'] / 1000:.3f} kimg)")
    resumed = state["options"] if state is not None else None
    data = flags.get("data") or (resumed or {}).get("data")
    if not data:
        raise WaifuganError("--data is required (a dataset zip or folder)")
    dataset = ImageDataset(data, mirror=bool(_first(flags.get("mirror"), resumed, "mirror")))
    preset = flags.get("preset") or (resumed or {}).get("preset") or "cpu64"
    opts = resolve_options(preset, {**flags, "data": str(data)}, dataset.resolution, resumed)
    if opts.batch % dist_info.world_size:
        raise WaifuganError(f"--batch {opts.batch} is not divisible by {dist_info.world_size} GPUs")
    if dry_run:
        print(opts.to_json())
        return run_dir or outdir
    if run_dir is None:
        run_dir = _create_run(outdir, dataset.name, opts, dist_info)
    loop = TrainingLoop(opts, run_dir, dataset, device, dist_info, state, on_step)
    if dist_info.is_main:
        loop.log.line(
            f"run {run_dir} on {device}: {len(dataset)} images at {dataset.resolution}px, "
            f"batch {opts.batch}, {opts.kimg} kimg"
        )
    loop.run()
    return run_dir


def _first(flag: Any, resumed: dict[str, Any] | None, key: str) -> Any:
    return flag if flag is not None else (resumed or {}).get(key)


def _create_run(
    outdir: Path, dataset_name: str, opts: TrainOptions, dist_info: distributed.DistInfo
) -> Path:
    run_dir = None
    if dist_info.is_main:
        run_dir = new_run_dir(outdir, dataset_name, opts.preset)
        (run_dir / OPTIONS_JSON).write_text(opts.to_json() + "\n", encoding="utf-8")
    return Path(distributed.broadcast_str(str(run_dir) if run_dir else None, dist_info))
