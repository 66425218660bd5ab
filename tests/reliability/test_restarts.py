"""`waifugan train --restarts N`: the supervisor reruns training after a crash.

Most cases run the supervisor over tests/reliability/fake_train.py, a child that follows a
plan (ticks logged, checkpoint or not, how it ends) and starts in milliseconds; the last two
run real training: with an injected crash (WAIFUGAN_FAULT=crash_at_kimg: SIGKILL), and
stopped by Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import TINY_TRAIN, waifugan, wait_until
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.rundir import last_tick_kimg, list_checkpoints, read_stats
from waifugan.train.supervise import Supervisor, crash_reason, with_resume

FAKE = [sys.executable, str(Path(__file__).with_name("fake_train.py"))]


def _supervise(tmp_path, monkeypatch, plan, restarts=3, args=(), stop_at=None):
    monkeypatch.setenv("FAKE_PLAN", str(tmp_path / "plan.json"))
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls.jsonl"))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    sleeps: list[float] = []
    outdir = tmp_path / "runs"
    base = ["--outdir", str(outdir), *args]
    code = Supervisor(base, outdir, restarts, 5.0, FAKE, sleeps.append, stop_at).run()
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    return code, calls, sleeps, outdir / "00000-fake"


def test_crashes_are_restarted_with_resume_and_back_off(tmp_path, monkeypatch, capsys):
    plan = [
        {"ticks": [0.1, 0.2], "checkpoint": True, "end": "exit:1"},  # a traceback
        {"ticks": [0.3], "end": "signal:9"},  # the OOM killer
        {"ticks": [0.4, 0.5], "end": "exit:0"},
    ]
    code, calls, sleeps, run_dir = _supervise(tmp_path, monkeypatch, plan)
    assert code == 0 and len(calls) == 3
    assert "--resume" not in calls[0]
    assert calls[1][-2:] == calls[2][-2:] == ["--resume", str(run_dir)]
    assert sleeps == [5.0, 10.0]  # doubling back-off
    err = capsys.readouterr().err
    assert "training crashed (exit status 1) at 0.200 kimg" in err
    assert "training crashed (killed by SIGKILL) at 0.300 kimg" in err
    assert "restart 1/3 in 5 s, resuming" in err and "restart 2/3 in 10 s" in err
    assert "restart 1/3" in (run_dir / "log.txt").read_text()  # also in the run's log


def test_a_crash_at_the_same_point_twice_is_not_restarted(tmp_path, monkeypatch, capsys):
    plan = [
        {"ticks": [0.1], "checkpoint": True, "end": "signal:11"},  # a segfault at 0.1...
        {"ticks": [], "end": "signal:11"},  # ...and again before any new tick
        {"end": "exit:0"},
    ]
    code, calls, sleeps, _ = _supervise(tmp_path, monkeypatch, plan)
    assert code == 1 and len(calls) == 2 and len(sleeps) == 1
    assert "crashed at 0.100 kimg twice in a row" in capsys.readouterr().err


def test_restarts_run_out(tmp_path, monkeypatch, capsys):
    plan = [{"ticks": [0.1 * (i + 1)], "checkpoint": True, "end": "exit:1"} for i in range(3)]
    code, calls, _, _ = _supervise(tmp_path, monkeypatch, plan, restarts=1)
    assert code == 1 and len(calls) == 2
    assert "no restarts left (--restarts 1)" in capsys.readouterr().err


@pytest.mark.parametrize("end, expected", [("exit:2", 2), ("exit:130", 130), ("signal:15", 143)])
def test_refusals_and_user_stops_are_not_restarted(tmp_path, monkeypatch, end, expected):
    code, calls, sleeps, _ = _supervise(tmp_path, monkeypatch, [{"end": end}, {"end": "exit:0"}])
    assert code == expected and len(calls) == 1 and sleeps == []


def test_a_crash_before_the_first_checkpoint_reruns_the_same_command(tmp_path, monkeypatch):
    plan = [{"end": "signal:9"}, {"ticks": [0.1], "end": "exit:0"}]
    code, calls, _, _ = _supervise(tmp_path, monkeypatch, plan, args=["--kimg", "1"])
    assert code == 0 and calls[1] == calls[0]  # nothing to resume: no --resume


def test_resume_latest_is_kept_until_the_run_is_known(tmp_path, monkeypatch):
    outdir = tmp_path / "runs"
    (outdir / "00000-fake").mkdir(parents=True)
    (outdir / "00000-fake" / "checkpoint-000000.pt").touch()
    plan = [{"ticks": [0.1], "end": "exit:1"}, {"ticks": [0.2], "end": "exit:0"}]
    code, calls, _, run_dir = _supervise(tmp_path, monkeypatch, plan, args=["--resume", "latest"])
    assert code == 0 and calls[1][-2:] == ["--resume", str(run_dir)]
    assert calls[1].count("--resume") == 1


def test_each_child_gets_the_minutes_left_of_the_time_limit(tmp_path, monkeypatch):
    plan = [{"ticks": [0.1], "checkpoint": True, "end": "exit:1"}, {"end": "exit:0"}]
    start = time.time()
    code, calls, _, run_dir = _supervise(tmp_path, monkeypatch, plan, stop_at=start + 600)
    assert code == 0 and len(calls) == 2
    assert calls[0][-2] == "--minutes" and 9.9 < float(calls[0][-1]) <= 10.0
    assert calls[1][-4:-1] == ["--resume", str(run_dir), "--minutes"]
    assert float(calls[1][-1]) <= float(calls[0][-1])  # one budget for all children


def test_no_restart_once_the_time_limit_is_reached(tmp_path, monkeypatch, capsys):
    plan = [{"ticks": [0.1], "checkpoint": True, "end": "exit:1"}, {"end": "exit:0"}]
    # 3 s left: less than the 5 s back-off before a restart
    code, calls, sleeps, _ = _supervise(tmp_path, monkeypatch, plan, stop_at=time.time() + 3)
    assert code == 1 and len(calls) == 1 and sleeps == []
    assert "time limit (--minutes) is reached: not restarting" in capsys.readouterr().err


def test_sigterm_to_the_supervisor_reaches_the_child_and_ends_supervision(tmp_path, monkeypatch):
    waiting = Path(str(tmp_path / "calls.jsonl") + ".waiting")

    def stop_when_waiting() -> None:
        deadline = time.monotonic() + 30
        while not waiting.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_waiting, daemon=True).start()
    handler_before = signal.getsignal(signal.SIGTERM)
    plan = [{"ticks": [0.1], "checkpoint": True, "end": "wait"}, {"end": "exit:0"}]
    code, calls, sleeps, _ = _supervise(tmp_path, monkeypatch, plan)
    # the child exits 1 on SIGTERM; the user asked to stop, so that is not a crash
    assert code == 1 and len(calls) == 1 and sleeps == []
    assert signal.getsignal(signal.SIGTERM) == handler_before  # the supervisor's is gone


def test_crash_reasons_and_resume_arguments():
    assert crash_reason(0) is None and crash_reason(2) is None and crash_reason(-2) is None
    assert crash_reason(1) == "exit status 1" and crash_reason(-9) == "killed by SIGKILL"
    assert crash_reason(-6) == "killed by SIGABRT" and crash_reason(137) == "exit status 137"
    assert with_resume(["--kimg", "1", "--resume=latest"], "R") == ["--kimg", "1", "--resume", "R"]
    assert with_resume(["--resume", "x.pt", "--seed", "2"], "R") == ["--seed", "2", "--resume", "R"]


@pytest.mark.slow
def test_real_training_restarts_after_an_injected_crash(blob_zip, tmp_path):
    # checkpoints every 0.128 kimg; the process SIGKILLs itself right after the one at 0.512:
    # the restart resumes there and finishes
    outdir = tmp_path / "runs"
    args = ["train", *TINY_TRAIN, "--data", str(blob_zip), "--outdir", str(outdir),
            "--kimg", "0.768", "--tick", "0.064", "--snap", "2", "--restarts", "2",
            "--restart-delay", "0.1"]  # fmt: skip
    proc = waifugan(args, fault="crash_at_kimg:0.512")
    output, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, output
    assert "training crashed (killed by SIGKILL) at 0.512 kimg" in output
    assert "restart 1/2 in 0.1 s, resuming" in output
    run_dir = outdir / "00000-blobs-cpu32"
    assert load_checkpoint(list_checkpoints(run_dir)[0])["cur_nimg"] == 768
    kimgs = [r["kimg"] for r in read_stats(run_dir)]
    assert kimgs == sorted(set(kimgs)) and kimgs[-1] == pytest.approx(0.768)
    assert "supervisor: restart 1/2" in (run_dir / "log.txt").read_text()


@pytest.mark.slow
def test_ctrl_c_under_the_supervisor_checkpoints_once_and_does_not_restart(blob_zip, tmp_path):
    # a terminal's Ctrl-C reaches supervisor and child alike, and the supervisor forwards it:
    # the child sees SIGINT twice at once and must still write its checkpoint
    outdir = tmp_path / "runs"
    args = ["train", *TINY_TRAIN, "--data", str(blob_zip), "--outdir", str(outdir),
            "--kimg", "100", "--tick", "0.064", "--snap", "1000", "--restarts", "3"]  # fmt: skip
    proc = waifugan(args, start_new_session=True)
    run_dir = outdir / "00000-blobs-cpu32"
    try:
        assert wait_until(lambda: (last_tick_kimg(run_dir) or 0) >= 0.064, proc, 120, 0.05)
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    assert "supervisor" not in output and "Traceback" not in output, output
    assert load_checkpoint(list_checkpoints(run_dir)[0])["cur_nimg"] >= 64
