"""Complete training checkpoints as plain data, written atomically, loaded without code.

A checkpoint is a dict of tensors, numbers and strings saved with `torch.save` and read with
`torch.load(weights_only=True)`, so loading one can never execute code. Names and finding the
newest checkpoint of a run belong to rundir.py.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.train import faults

FORMAT = "waifugan-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("G", "G_ema", "D", "G_opt", "D_opt", "cur_nimg", "options")
# While being written a checkpoint is `.checkpoint-NNNNNN.pt.<random>.tmp`: a name that never
# matches a checkpoint's, so a kill mid-write leaves nothing a resume could mistake for one.
TEMP_SUFFIX = ".tmp"


class CheckpointWriteError(WaifuganError):
    """A checkpoint could not be written (disk full, I/O error); nothing was replaced."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write a checkpoint to a temporary file, fsync it, then rename it into place.

    A state with a NaN/inf tensor is refused (a poisoned checkpoint would poison every resume),
    and a failed write (disk full, I/O error) removes the temporary file and raises
    CheckpointWriteError: the file at `path`, if any, is never touched until the rename.
    """
    path = Path(path)
    bad = first_non_finite(state)
    if bad is not None:
        raise WaifuganError(f"{path}: not written: tensor {bad} holds NaN or inf")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    except OSError as error:
        raise _write_error(path, error) from error
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        faults.checkpoint_write_delay()
        os.replace(tmp, path)
    except BaseException as error:
        with contextlib.suppress(OSError):  # the disk may refuse this too; the name is .tmp
            os.unlink(tmp)
        cause = _os_error(error)
        if cause is None:
            raise
        raise _write_error(path, cause) from error
    try:
        _fsync_dir(path.parent)
    except OSError as error:
        raise CheckpointWriteError(
            f"{path}: written, but syncing its folder failed ({error.strerror or error}); the "
            "disk may be failing"
        ) from error
    return path


def _write_error(path: Path, cause: OSError) -> CheckpointWriteError:
    return CheckpointWriteError(
        f"{path}: could not write the checkpoint ({cause.strerror or cause}); the partial file "
        "was removed and earlier checkpoints are untouched"
    )


def _os_error(error: BaseException) -> OSError | None:
    """The OSError behind a failed write: raised directly, or wrapped by torch.save's C++
    writer in a RuntimeError whose context is the Python file's OSError."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def first_non_finite(value: Any, name: str = "") -> str | None:
    """Dotted name of the first floating-point tensor holding NaN or inf in nested state
    (dicts, lists, tuples), or None when every tensor is finite."""
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return name or "<tensor>"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = first_non_finite(item, f"{name}.{key}" if name else str(key))
        if found is not None:
            return found
    return None


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
    problem = structure_problem(state)
    if problem is not None:
        raise WaifuganError(f"{path}: not a usable checkpoint: {problem}")
    return state


def structure_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a loaded checkpoint (a file edited or written by
    something else), or None: networks are name → tensor, optimizers hold `state` and
    `param_groups`, counters are non-negative integers, options a dict."""
    for name in ("G", "G_ema", "D"):
        weights = state[name]
        if not isinstance(weights, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
        ):
            return f"{name} is not a mapping of parameter names to tensors"
    for name in ("G_opt", "D_opt"):
        opt = state[name]
        if not (
            isinstance(opt, dict)
            and isinstance(opt.get("state"), dict)
            and isinstance(opt.get("param_groups"), list)
            and all(isinstance(group, dict) for group in opt["param_groups"])
        ):
            return f"{name} is not an optimizer state (state, param_groups)"
    for name in ("cur_nimg", "cur_tick", "batch_idx", "tick_start_nimg"):
        value = state.get(name, 0)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return f"{name} is {value!r}, not a count"
    if not isinstance(state["options"], dict):
        return f"options is a {type(state['options']).__name__}, not a dict"
    for name, kind in (("pl_mean", torch.Tensor), ("rng", dict), ("augment", dict)):
        if name in state and not isinstance(state[name], kind):
            return f"{name} is a {type(state[name]).__name__}, not a {kind.__name__}"
    return None
