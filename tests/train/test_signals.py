"""A real training process with DataLoader workers, stopped the way schedulers stop jobs.

`timeout`, Slurm preemption and systemd send SIGTERM to the whole process group; a terminal's
Ctrl-C sends SIGINT to the group. Either must end in a checkpoint and exit status 0, with the
workers' deaths not mistaken for a crash, and `--resume latest` must continue from it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waifugan.train.checkpoint import load_checkpoint

TINY = [
    "--preset", "cpu32", "--batch", "8", "--tick", "0.016", "--snap", "1000", "--cbase", "256",
    "--cmax", "16", "--z-dim", "16", "--w-dim", "16", "--map-depth", "2", "--device", "cpu",
]  # fmt: skip


def _train(args: list[str], **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "waifugan", "train", *TINY, *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs,
    )  # fmt: skip


def _wait_for_ticks(stats: Path, proc: subprocess.Popen, ticks: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"training ended early ({proc.returncode}): {proc.stdout.read()}")
        if stats.is_file() and len(stats.read_text().splitlines()) >= ticks:
            return
        time.sleep(0.1)
    pytest.fail(f"no {ticks} ticks in {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_process_group_checkpoints_and_resume_continues(blob_zip, tmp_path, signum):
    outdir = tmp_path / "runs"
    proc = _train(
        ["--data", str(blob_zip), "--outdir", str(outdir), "--kimg", "100", "--workers", "2"],
        start_new_session=True,  # its own process group, like a job under a scheduler
    )
    run_dir = outdir / "00000-blobs-cpu32"
    try:
        _wait_for_ticks(run_dir / "stats.jsonl", proc, ticks=2, timeout=120)
        os.killpg(proc.pid, signum)  # main process and DataLoader workers alike
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    assert "Traceback" not in output and "killed by signal" not in output, output
    checkpoints = sorted(run_dir.glob("checkpoint-*.pt"))
    assert checkpoints, output
    stopped_nimg = load_checkpoint(checkpoints[-1])["cur_nimg"]
    assert stopped_nimg >= 32  # at least the two ticks seen before the signal

    target_kimg = (stopped_nimg + 16) / 1000
    resumed = _train(["--outdir", str(outdir), "--resume", "latest", "--kimg", str(target_kimg)])
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    final = sorted(run_dir.glob("checkpoint-*.pt"))[-1]
    assert load_checkpoint(final)["cur_nimg"] == stopped_nimg + 16
    lines = (run_dir / "stats.jsonl").read_text().splitlines()
    kimgs = [json.loads(line)["kimg"] for line in lines]
    assert kimgs == sorted(kimgs)


_STEP_THEN_RAISE = """
import sys
from pathlib import Path
import torch
sys.path.insert(0, {tests!r})
from train.conftest import tiny_flags
from waifugan.data.dataset import ImageDataset
from waifugan.train.loop import TrainingLoop
from waifugan.train.options import resolve_options

flags = tiny_flags(Path({data!r}), Path({outdir!r}), workers=2)
opts = resolve_options(flags.pop("preset"), flags, 16)
loop = TrainingLoop(opts, Path({outdir!r}), ImageDataset({data!r}), torch.device("cpu"))
loop.step()  # the DataLoader workers are running now
raise RuntimeError("failed between steps")
"""


@pytest.mark.slow
def test_an_error_outside_run_still_lets_the_process_exit(blob_zip, tmp_path):
    # The workers ignore SIGTERM, which multiprocessing's exit handler relies on to stop them;
    # a stream nobody closed must still be shut down so the process exits with the error.
    script = _STEP_THEN_RAISE.format(
        tests=str(Path(__file__).resolve().parents[1]), data=str(blob_zip), outdir=str(tmp_path)
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the process hung at exit after an error with DataLoader workers running")
    assert result.returncode == 1
    assert "RuntimeError: failed between steps" in result.stderr
