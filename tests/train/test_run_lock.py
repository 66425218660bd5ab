"""One trainer per run directory: a second one is refused with the first one's pid, a killed
trainer's lock goes with it, and forked DataLoader workers never hold it."""

from __future__ import annotations

import multiprocessing
import os
import time

import pytest

from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.train import rundir
from waifugan.train.rundir import hold_run_dir, latest_valid_checkpoint, list_checkpoints

pytestmark = pytest.mark.skipif(rundir.fcntl is None, reason="no flock on this platform")


def test_a_second_trainer_is_refused_while_the_first_holds_the_run(blob_zip, tmp_path):
    flags = tiny_flags(blob_zip, tmp_path / "runs")
    run_dir = run_train(flags)
    before = list_checkpoints(run_dir)
    with hold_run_dir(run_dir):
        with pytest.raises(
            WaifuganError, match=rf"in use by another training process \(pid {os.getpid()}\)"
        ):
            run_train({**flags, "kimg": 0.128}, resume=str(run_dir))
        assert list_checkpoints(run_dir) == before  # refused before touching anything
    # Released: the same resume now trains on.
    run_train({**flags, "kimg": 0.128}, resume=str(run_dir))
    assert latest_valid_checkpoint(run_dir)[1]["cur_nimg"] == 128


def _sleep(started, seconds: float) -> None:
    started.set()
    time.sleep(seconds)


def test_a_forked_child_does_not_keep_the_run_locked(tmp_path):
    context = multiprocessing.get_context("fork")
    started = context.Event()
    with hold_run_dir(tmp_path):
        child = context.Process(target=_sleep, args=(started, 30), daemon=True)
        child.start()  # as a DataLoader worker: forked while the lock is held
        assert started.wait(30)
    try:
        with hold_run_dir(tmp_path):  # the parent let go; the living child must not hold it
            assert (tmp_path / rundir.LOCK).read_text() == str(os.getpid())
    finally:
        child.kill()
        child.join()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_hold_forever, args=(str(tmp_path),), daemon=True)
    child.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / rundir.LOCK).exists() or not (tmp_path / rundir.LOCK).read_text():
        assert time.monotonic() < deadline, "the child never took the lock"
        time.sleep(0.05)
    with pytest.raises(WaifuganError, match=f"pid {child.pid}"), hold_run_dir(tmp_path):
        pass
    child.kill()
    child.join()
    with hold_run_dir(tmp_path):
        pass


def _hold_forever(path: str) -> None:
    with hold_run_dir(path):
        time.sleep(60)
