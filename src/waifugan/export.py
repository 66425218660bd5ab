"""Any training product → a generator, and `waifugan export`: a checkpoint → a model file.

`load_generator` accepts a .safetensors model, a training checkpoint, a run directory (its
newest valid checkpoint) or the --outdir holding runs (its newest run's, as `--resume latest`
picks it), so every command that takes MODEL takes any of them. The model file format itself
belongs to the networks (networks/model_file.py); this module sits above train because it
reads checkpoints and run directories.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.networks.model_file import build_generator, load_model, save_model
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.rundir import latest_valid_checkpoint, newest_run_checkpoint


def _generator_from_checkpoint(state: dict[str, Any], source: str) -> torch.nn.Module:
    return build_generator(state["options"]["G"], state["G_ema"], source)


def load_generator(model: str | os.PathLike[str], device: Any = "cpu") -> Any:
    """Generator (eval mode, on device) from a .safetensors model, a checkpoint, a run dir or
    an --outdir of runs."""
    path = Path(model)
    if path.is_dir():
        found = latest_valid_checkpoint(path) or newest_run_checkpoint(path)
        if found is None:
            raise WaifuganError(f"{path}: run directory has no valid checkpoint")
        G = _generator_from_checkpoint(found[1], str(found[0]))
    elif not path.exists():
        raise WaifuganError(f"{path}: no such model, checkpoint or run directory")
    elif path.suffix == ".safetensors":
        G = load_model(path)
    else:
        G = _generator_from_checkpoint(load_checkpoint(path), str(path))
    return G.eval().requires_grad_(False).to(device)


def export_model(source: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """`waifugan export`: a checkpoint or run directory's G_ema → one .safetensors model."""
    G = load_generator(source)
    return save_model(G, output, extra={"source": str(source)})
