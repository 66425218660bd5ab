"""kill -9 at random moments of `waifugan prepare`, then the same command again.

2,000 faces of the shared adventurer set (no detection, 128 → 64 px, two workers). Each run
is SIGKILLed at a seeded random point of its progress: during start-up (a random delay
before any input is journaled) or once a random number of further inputs are journaled
(workers busy, zip being assembled); its orphaned workers are killed too and the same
command is rerun, which resumes. After the kills a last rerun finishes: the dataset must be
byte-identical to an uninterrupted run's. In-process tests below put a "kill" (an exception
nothing catches) at the exact points a random kill rarely hits: after the report, before
the move into place; after the move, before the work folder is deleted; in the deletion.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import figure, waifugan, wait_until
from waifugan.data.dataset import ImageDataset
from waifugan.errors import WaifuganError
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.pack import DatasetWriter, WorkDir
from waifugan.prepare.pipeline import prepare

LIMIT, KILLS = 2000, 5  # enough work that a kill lands before a fast machine finishes


def _prepare(source: Path, output: Path) -> list[str]:
    return ["prepare", str(source), "-o", str(output), "--no-detect", "--limit", str(LIMIT),
            "--resolution", "64", "--upscale", "none", "--workers", "2",
            "--no-progress"]  # fmt: skip


def _run(args: list[str]) -> tuple[int, str, float]:
    started = time.monotonic()
    proc = waifugan(args, start_new_session=True)
    output, _ = proc.communicate(timeout=300)
    return proc.returncode, output, time.monotonic() - started


def _journaled(work: Path) -> int:
    journal = work / "journal.jsonl"
    return journal.read_bytes().count(b"\n") if journal.is_file() else 0


def _run_and_kill(args: list[str], work: Path, delay: float | None, lines: int) -> bool:
    """Start; SIGKILL the main process after `delay` s or, with delay None, once the journal
    holds `lines` lines; then its orphaned workers. False if it finished first."""
    proc = waifugan(args, start_new_session=True)
    try:
        if delay is not None:
            time.sleep(delay)
        else:
            wait_until(lambda: _journaled(work) >= lines, proc, timeout=120)
        if proc.poll() is not None:
            return False
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        return True
    finally:
        time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.mark.slow
def test_sigkill_during_prepare_then_rerun_gives_the_same_bytes(shared_dir, assets_dir, tmp_path):
    source = shared_dir / "data" / "adventurer-train-128.zip"
    clean = tmp_path / "clean.zip"
    code, output, seconds = _run(_prepare(source, clean))
    assert code == 0, output

    rng = random.Random(15)
    killed = tmp_path / "killed.zip"
    work = tmp_path / "killed.zip.partial"
    points: list[str] = []
    for kill in range(KILLS):
        done = _journaled(work)
        if kill % 3 == 0:  # start-up: imports, the fork server, recovering the journal
            delay, lines = rng.uniform(0.2, 1.5), 0
            point = f"{delay:.1f}s"
        else:  # busy: a random number of further inputs in (journal groups of up to 64)
            delay, lines = None, done + rng.randint(1, max((LIMIT - done) // 3, 1))
            point = f"{lines} journaled"
        if not _run_and_kill(_prepare(source, killed), work, delay, lines):
            break  # it finished first
        points.append(f"{point}: {_journaled(work)} journaled at the kill")
    if not killed.exists():
        code, output, _ = _run(_prepare(source, killed))
        assert code == 0, output
    assert killed.read_bytes() == clean.read_bytes()
    assert not killed.with_name(killed.name + ".partial").exists()
    assert len(points) >= KILLS - 1, points
    figure("prepare-sigkill", images=LIMIT, kills=len(points), points=points,
           uninterrupted_s=round(seconds, 1))  # fmt: skip


class _Killed(BaseException):
    """Stands for a SIGKILL at one precise point (nothing after it runs)."""


def _small(shared_dir: Path, output: Path) -> PrepareConfig:
    source = shared_dir / "data" / "adventurer-train-128.zip"
    return PrepareConfig(sources=(str(source),), output=str(output), detect=False, limit=24,
                         resolution=64, upscale="none", workers=1, progress=False)  # fmt: skip


def test_a_kill_after_the_report_before_the_move_reruns_to_the_same_bytes(
    shared_dir, tmp_path, monkeypatch
):
    clean = prepare(_small(shared_dir, tmp_path / "clean.zip")).output.read_bytes()
    killed = tmp_path / "killed.zip"

    def kill(*_):
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(DatasetWriter, "move_into_place", kill)
        with pytest.raises(_Killed):
            prepare(_small(shared_dir, killed))
    assert not killed.exists() and (tmp_path / "killed-report" / "report.json").is_file()
    assert prepare(_small(shared_dir, killed)).images == 24
    assert killed.read_bytes() == clean


def test_a_kill_while_tidying_up_leaves_a_complete_dataset_and_a_rerun_tidies(
    shared_dir, tmp_path, monkeypatch
):
    output = tmp_path / "ds.zip"
    with monkeypatch.context() as patch:
        patch.setattr(WorkDir, "remove", lambda self: (_ for _ in ()).throw(_Killed()))
        with pytest.raises(_Killed):
            prepare(_small(shared_dir, output))
    work = tmp_path / "ds.zip.partial"
    assert output.is_file() and work.is_dir()
    complete = output.read_bytes()
    with pytest.raises(WaifuganError, match="already exists .made by an earlier run.*removed"):
        prepare(_small(shared_dir, output))
    assert not work.exists() and output.read_bytes() == complete
    assert len(ImageDataset(output)) == 24


def test_a_kill_during_the_deletion_of_the_work_folder_never_reuses_a_journal(tmp_path):
    # the journal and options go first: a half-deleted folder reads as a fresh start
    work = WorkDir(tmp_path / "ds.zip", "options")
    for name in ("journal.jsonl", "samples.bin", "thumbs.bin"):
        (work.path / name).write_bytes(b"x")
    deleted = []
    real_unlink = Path.unlink

    def unlink_then_die(self, missing_ok=False):
        real_unlink(self, missing_ok=missing_ok)
        deleted.append(self.name)
        if len(deleted) == 2:
            raise _Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "unlink", unlink_then_die)
        with pytest.raises(_Killed):
            work.remove()
    assert deleted == ["options.json", "journal.jsonl"]
    assert WorkDir(tmp_path / "ds.zip", "options").recover() == []


def test_a_kill_while_the_work_folder_is_created_never_blocks_the_rerun(tmp_path, monkeypatch):
    # a kill in the middle of writing options.json must not leave a torn one, which every
    # rerun would take for "an interrupted run with different options"
    real_write = Path.write_text

    def torn_write(self, text, *args, **kwargs):
        real_write(self, text[: len(text) // 2], *args, **kwargs)
        raise _Killed

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_text", torn_write)
        with pytest.raises(_Killed):
            WorkDir(tmp_path / "ds.zip", '{"resolution": 64}')
    assert WorkDir(tmp_path / "ds.zip", '{"resolution": 64}').recover() == []
