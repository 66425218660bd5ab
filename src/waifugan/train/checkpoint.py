"""Complete training checkpoints as plain data, written atomically, loaded without code.

A checkpoint is a dict of tensors, numbers and strings saved with `torch.save` and read with
`torch.load(weights_only=True)`, so loading one can never execute code.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError

FORMAT = "waifugan-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("G", "G_ema", "D", "G_opt", "D_opt", "cur_nimg", "options")
CHECKPOINT_RE = re.compile(r"^checkpoint-(\d{6,})\.pt$")
RUN_RE = re.compile(r"^(\d{5})-")


def checkpoint_name(cur_nimg: int) -> str:
    """File name of the checkpoint at an image count: checkpoint-NNNNNN.pt, NNNNNN = kimg."""
    return f"checkpoint-{cur_nimg // 1000:06d}.pt"


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


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoints of a run directory, newest (highest kimg) first."""
    found = []
    for entry in Path(run_dir).iterdir():
        match = CHECKPOINT_RE.match(entry.name)
        if match:
            found.append((int(match[1]), entry.stat().st_mtime, entry))
    return [entry for _, _, entry in sorted(found, reverse=True)]


def latest_valid_checkpoint(
    run_dir: str | os.PathLike[str], map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """Newest checkpoint of a run that loads; damaged ones are skipped with a warning."""
    for path in list_checkpoints(run_dir):
        try:
            return path, load_checkpoint(path, map_location)
        except WaifuganError as error:
            print(f"warning: skipping {error}", file=sys.stderr)
    return None


def list_runs(outdir: str | os.PathLike[str]) -> list[Path]:
    """Run directories `<outdir>/NNNNN-*`, newest (highest number) first."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return []
    runs = [(int(m[1]), p) for p in outdir.iterdir() if p.is_dir() and (m := RUN_RE.match(p.name))]
    return [p for _, p in sorted(runs, reverse=True)]


def find_resume_checkpoint(
    outdir: str | os.PathLike[str], map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]]:
    """`--resume latest`: the newest valid checkpoint in the newest run that has one."""
    for run_dir in list_runs(outdir):
        found = latest_valid_checkpoint(run_dir, map_location)
        if found is not None:
            return found
    raise WaifuganError(f"--resume latest: no valid checkpoint in any run under {outdir}")
