"""Complete training checkpoints as plain data, written atomically, loaded without code.

A checkpoint is a dict of tensors, numbers and strings saved with `torch.save` and read with
`torch.load(weights_only=True)`, so loading one can never execute code. Names and finding the
newest checkpoint of a run belong to rundir.py.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError

FORMAT = "waifugan-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("G", "G_ema", "D", "G_opt", "D_opt", "cur_nimg", "options")


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a checkpoint to a temporary file, fsync it, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint; a damaged or foreign file raises WaifuganError."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise WaifuganError(f"{path}: no such checkpoint") from None
    except Exception as error:  # truncated zip, bad pickle opcode, disallowed global, ...
        raise WaifuganError(f"{path}: not a readable checkpoint ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise WaifuganError(f"{path}: not a waifugan checkpoint")
    missing = [key for key in REQUIRED_KEYS if key not in state]
    if missing:
        raise WaifuganError(f"{path}: checkpoint lacks {', '.join(missing)}")
    return state
