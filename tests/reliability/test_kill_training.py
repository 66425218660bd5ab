"""kill -9 at random moments of a training run, resumed with `--resume latest` each time.

SIGKILL gives the process no chance to save. Five seeded random kill points of three kinds:
during a checkpoint write (WAIFUGAN_FAULT=checkpoint_write_delay holds the finished temporary
file 0.25 s before its rename, and the test kills as soon as a `.checkpoint-*.tmp` appears),
shortly after a tick, and at any moment from process start (often during start-up). After
every kill: every checkpoint on disk loads, the newest checkpoint's kimg never went
backwards, at most one snapshot interval of logged work is lost, and the temporary file left
by a mid-write kill is not taken for a checkpoint. At the end the run finishes, and its
weights equal an uninterrupted run's bit for bit.
"""

from __future__ import annotations

import random
import signal
import time

import pytest
import torch

from tests.reliability.helpers import TINY_TRAIN, figure, waifugan, wait_until
from tests.train.conftest import run_train
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.rundir import (
    last_tick_kimg,
    latest_valid_checkpoint,
    list_checkpoints,
    read_stats,
)

TICK_KIMG, SNAP, KIMG = 0.128, 2, 1.92
SNAPSHOT_KIMG = TICK_KIMG * SNAP  # checkpoints every 0.256 kimg: ~0.6 s apart
KILLS = ["write", "tick", "any", "write", "tick"]
FAULT = "checkpoint_write_delay:0.25"


def _args(blob_zip, outdir, resume: bool) -> list[str]:
    args = ["train", *TINY_TRAIN, "--outdir", str(outdir), "--kimg", str(KIMG)]
    args += ["--tick", str(TICK_KIMG), "--snap", str(SNAP), "--seed", "3"]
    return args + (["--resume", "latest"] if resume else ["--data", str(blob_zip)])


def _kill_point(kind: str, rng: random.Random, run_dir, proc, start_kimg: float | None) -> str:
    """Wait for the chosen moment, then SIGKILL; returns what the moment was."""
    if kind == "write":
        wait_until(lambda: any(run_dir.glob(".checkpoint-*.tmp")), proc, timeout=60)
    elif kind == "tick":
        wait_until(lambda: (last_tick_kimg(run_dir) or 0) > (start_kimg or 0), proc, 60, 0.02)
        time.sleep(rng.uniform(0, 0.5))
    else:
        time.sleep(rng.uniform(0.2, 6.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return kind


@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_latest(blob_zip, tmp_path):
    rng = random.Random(15)
    outdir = tmp_path / "runs"
    run_dir = outdir / "00000-blobs-cpu32"
    newest_nimg, lost, mid_write, started = 0, [], 0, time.monotonic()
    for i, kind in enumerate(KILLS):
        resume_nimg = newest_nimg
        proc = waifugan(_args(blob_zip, outdir, resume=i > 0), fault=FAULT)
        if i == 0:  # a run killed before its first checkpoint has nothing to resume
            first = wait_until(lambda: run_dir.is_dir() and list_checkpoints(run_dir), proc, 60)
            assert first, proc.communicate()[0]
        _kill_point(kind, rng, run_dir, proc, last_tick_kimg(run_dir))
        assert proc.returncode == -signal.SIGKILL, proc.communicate()[0]
        stale = list(run_dir.glob(".checkpoint-*.tmp"))
        mid_write += bool(stale)
        if kind == "write":
            assert stale, "the kill did not land during a checkpoint write"
        checkpoints = list_checkpoints(run_dir)
        assert not set(stale) & set(checkpoints)
        states = [load_checkpoint(path) for path in checkpoints]  # every one loads
        newest = max((s["cur_nimg"] for s in states), default=0)
        assert newest >= newest_nimg, "the newest checkpoint went backwards"
        newest_nimg = newest
        progress = last_tick_kimg(run_dir)
        if progress is not None:
            lost.append(round(progress - newest_nimg / 1000, 3))
            assert lost[-1] <= SNAPSHOT_KIMG + 1e-9, (kind, progress, newest_nimg)
        found = latest_valid_checkpoint(run_dir)
        assert found is None or found[1]["cur_nimg"] == newest_nimg  # what the resume takes
        assert newest_nimg >= resume_nimg

    proc = waifugan(_args(blob_zip, outdir, resume=True))
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert not list(run_dir.glob(".checkpoint-*.tmp"))
    kimgs = [r["kimg"] for r in read_stats(run_dir)]
    assert kimgs == sorted(set(kimgs)) and kimgs[-1] == pytest.approx(KIMG)
    final = load_checkpoint(list_checkpoints(run_dir)[0])
    assert final["cur_nimg"] == KIMG * 1000
    figure(
        "train-sigkill", kills=len(KILLS), mid_write=mid_write, lost_kimg=lost,
        snapshot_kimg=SNAPSHOT_KIMG, checkpoints=len(list_checkpoints(run_dir)),
        seconds=round(time.monotonic() - started),
    )  # fmt: skip

    # the same run without kills (in this process) ends in the same weights, bit for bit
    flags = dict(
        data=str(blob_zip), outdir=str(tmp_path / "clean"), preset="cpu32", batch=32,
        cbase=256, cmax=16, z_dim=16, w_dim=16, map_depth=2, device="cpu", workers=0,
        kimg=KIMG, tick_kimg=TICK_KIMG, snap=SNAP, seed=3,
    )  # fmt: skip
    clean = load_checkpoint(list_checkpoints(run_train(flags))[0])
    for net in ("G", "G_ema", "D"):
        for name, tensor in clean[net].items():
            torch.testing.assert_close(final[net][name], tensor, rtol=0, atol=0, msg=name)
