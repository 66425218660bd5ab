"""The run directory: every file name in it, how names are parsed, and finding the newest run.

    <outdir>/NNNNN-<dataset>-<preset>/   numbered; the next run takes the next number
        options.json                     resolved TrainOptions of the run
        log.txt, stats.jsonl             one line / one JSON object per tick
        metrics.jsonl                    one JSON object per metrics evaluation
        reals.png, fakes_init.png        dataset sample, untrained G_ema
        fakesNNNNNN.png                  fixed-seed G_ema grid at NNNNNN kimg
        checkpoint-NNNNNN.pt             complete training state at NNNNNN kimg
        .checkpoint-NNNNNN.pt.*.tmp      a checkpoint being written (a kill's leftover is
                                         removed on resume; never taken for a checkpoint)
        .lock                            held by the training process (its pid inside)

Training, `waifugan metrics`, `export` and the progress video all go through this module, so a
name changes in one place.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from waifugan.errors import WaifuganError
from waifugan.train.checkpoint import TEMP_SUFFIX, load_checkpoint

OPTIONS_JSON = "options.json"
LOG_TXT = "log.txt"
STATS_JSONL = "stats.jsonl"
METRICS_JSONL = "metrics.jsonl"
REALS_PNG = "reals.png"
FAKES_INIT_PNG = "fakes_init.png"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)\.pt$")
_FAKES = re.compile(r"^fakes(\d+)\.png$")
_RUN = re.compile(r"^(\d{5})-")
LOCK = ".lock"

try:
    import fcntl
except ImportError:  # Windows: no flock; runs there are not guarded against a second trainer
    fcntl = None  # type: ignore[assignment]

# Lock descriptors this process holds. Forked children (DataLoader workers) close their copies
# at once: a worker outliving a killed trainer by its few seconds of watchdog would otherwise
# keep the run locked against the restart.
_HELD_LOCKS: set[int] = set()


def _close_held_locks_in_child() -> None:
    for fd in _HELD_LOCKS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD_LOCKS.clear()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_close_held_locks_in_child)


@contextlib.contextmanager
def hold_run_dir(run_dir: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the run directory for one training process, or refuse: two trainers writing one
    run (a second `--resume latest` while the first still runs) would truncate each other's
    stats and interleave checkpoints. The OS drops the lock when the process dies, so a
    killed run leaves nothing stale behind."""
    path = Path(run_dir) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
                raise WaifuganError(
                    f"{run_dir} is in use by another training process (pid {owner}); stop "
                    "it first (Ctrl-C or SIGTERM writes a checkpoint), then resume"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        _HELD_LOCKS.add(fd)
        yield
    finally:
        _HELD_LOCKS.discard(fd)
        os.close(fd)  # releases the lock


def checkpoint_name(cur_nimg: int) -> str:
    """File name of the checkpoint at an image count: checkpoint-NNNNNN.pt, NNNNNN = kimg."""
    return f"checkpoint-{cur_nimg // 1000:06d}.pt"


def fakes_name(cur_nimg: int) -> str:
    """File name of the snapshot grid at an image count: fakesNNNNNN.png, NNNNNN = kimg."""
    return f"fakes{cur_nimg // 1000:06d}.png"


def checkpoint_kimg(path: str | os.PathLike[str]) -> int | None:
    """The kimg a checkpoint file name states, or None when it is not a checkpoint name."""
    match = _CHECKPOINT.match(Path(path).name)
    return int(match[1]) if match else None


def fakes_kimg(path: str | os.PathLike[str]) -> int | None:
    """The kimg a snapshot grid's name states (padded or not), or None for other names."""
    match = _FAKES.match(Path(path).name)
    return int(match[1]) if match else None


def list_checkpoints(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Checkpoints of a run directory, newest (highest kimg) first."""
    found = []
    for entry in Path(run_dir).iterdir():
        kimg = checkpoint_kimg(entry)
        if kimg is not None:
            found.append((kimg, entry.stat().st_mtime, entry))
    return [entry for _, _, entry in sorted(found, reverse=True)]


def list_fakes(run_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """(kimg, path) of a run's fakesNNNNNN.png grids, in kimg order (as numbers, not names)."""
    found = [(kimg, p) for p in Path(run_dir).iterdir() if (kimg := fakes_kimg(p)) is not None]
    return sorted(found)


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


def remove_stale_temp_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files of checkpoint writes a kill interrupted (each is as big as a
    checkpoint); returns what was removed. Only for a run no other process is writing."""
    stale = [p for p in Path(run_dir).glob(".checkpoint-*" + TEMP_SUFFIX) if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def prune_checkpoints(
    run_dir: str | os.PathLike[str], keep: int, keep_every_kimg: float, protect: Path
) -> list[Path]:
    """`--keep N [--keep-every M]`: delete all but the newest `keep` checkpoints (0 keeps
    all) and, with M > 0, the first checkpoint at or past every multiple of M kimg.

    `protect` (the checkpoint just written: the one a resume needs) is never deleted, even
    when newer-named checkpoints of an abandoned continuation exist. Returns the deleted.
    """
    if keep <= 0:
        return []
    newest_first = list_checkpoints(run_dir)
    kept = set(newest_first[:keep]) | {Path(protect)}
    if keep_every_kimg > 0:
        first_in_window: dict[int, Path] = {}
        for path in reversed(newest_first):  # oldest first: the first of each window wins
            kimg = checkpoint_kimg(path)
            assert kimg is not None
            first_in_window.setdefault(int(kimg // keep_every_kimg), path)
        kept |= set(first_in_window.values())
    removed = [path for path in newest_first if path not in kept]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def read_stats(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """stats.jsonl records; a line a kill cut short (or any unreadable line) is skipped."""
    path = Path(run_dir) / STATS_JSONL
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("kimg"), int | float):
            records.append(record)
    return records


def drop_stats_after(run_dir: str | os.PathLike[str], cur_nimg: int) -> int:
    """On resume: rewrite stats.jsonl without the ticks past the checkpoint (work a kill threw
    away, about to be redone) and without torn lines, so its kimg never goes backwards.
    Returns how many lines were dropped."""
    path = Path(run_dir) / STATS_JSONL
    if not path.is_file():
        return 0
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    kept = [r for r in read_stats(run_dir) if round(r["kimg"] * 1000) <= cur_nimg]
    if len(kept) == len(lines):
        return 0
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    os.replace(tmp, path)
    return len(lines) - len(kept)


def last_tick_kimg(run_dir: str | os.PathLike[str]) -> float | None:
    """The kimg of a run's last logged tick (how far it got), or None before the first."""
    records = read_stats(run_dir)
    return float(records[-1]["kimg"]) if records else None


def list_runs(outdir: str | os.PathLike[str]) -> list[Path]:
    """Run directories `<outdir>/NNNNN-*`, newest (highest number) first."""
    outdir = Path(outdir)
    if not outdir.is_dir():
        return []
    runs = [(int(m[1]), p) for p in outdir.iterdir() if p.is_dir() and (m := _RUN.match(p.name))]
    return [p for _, p in sorted(runs, reverse=True)]


def newest_run_checkpoint(
    outdir: str | os.PathLike[str], map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]] | None:
    """The newest valid checkpoint in the newest run under `outdir` that has one, or None."""
    for run_dir in list_runs(outdir):
        found = latest_valid_checkpoint(run_dir, map_location)
        if found is not None:
            return found
    return None


def find_resume_checkpoint(
    outdir: str | os.PathLike[str], map_location: Any = "cpu"
) -> tuple[Path, dict[str, Any]]:
    """`--resume latest`: the newest valid checkpoint in the newest run that has one."""
    found = newest_run_checkpoint(outdir, map_location)
    if found is None:
        raise WaifuganError(f"--resume latest: no valid checkpoint in any run under {outdir}")
    return found


def new_run_dir(outdir: str | os.PathLike[str], dataset_name: str, preset: str) -> Path:
    """Create `<outdir>/<NNNNN>-<dataset>-<preset>` with the next free number."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    runs = list_runs(outdir)
    next_id = int(runs[0].name[:5]) + 1 if runs else 0
    safe_name = re.sub(r"[^A-Za-z0-9_.-]+", "_", dataset_name) or "data"
    run_dir = outdir / f"{next_id:05d}-{safe_name}-{preset}"
    run_dir.mkdir()
    return run_dir


def run_dir_of(path: str | os.PathLike[str]) -> Path | None:
    """The run directory a file (or folder) belongs to: it holds options.json; else None."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    return folder if (folder / OPTIONS_JSON).is_file() else None


def append_jsonl(
    path: str | os.PathLike[str], record: Mapping[str, Any], sort_keys: bool = False
) -> None:
    """Append one JSON object as a line (flushed and fsynced: a crash loses at most it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=sort_keys) + "\n")
        f.flush()
        os.fsync(f.fileno())


def append_metrics(run_dir: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    """Append one evaluation to the run's metrics.jsonl (keys sorted); returns its path."""
    path = Path(run_dir) / METRICS_JSONL
    append_jsonl(path, record, sort_keys=True)
    return path
