"""Several CPU processes over gloo (tiny 16 px networks): ranks stay bit-identical, 2 ranks x
B/2 equal 1 rank x B, resume works across rank counts, a dead or hung rank stops the others.

Why 2 ranks x B/2 equal 1 rank x B exactly here: the single process runs --batch-gpu B/2, so
both cut each step into the same 2 chunks (same images, same derived seeds, same minibatch-
stddev groups; train/chunks.py). Each chunk's gradient is computed identically, and the
all-reduce adds 2 numbers per element, as the single process's accumulation does (a + b is
commutative in IEEE arithmetic). With more than 2 chunks the all-reduce may add in another
order than the accumulation and results agree to rounding (~1e-7 relative) amplified by a few
Adam steps; 1 rank x B without --batch-gpu draws other random numbers (one chunk, one seed)
and groups minibatch stddev differently: an equally valid run, not the same one.
"""

from __future__ import annotations

import importlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.train.conftest import run_train, tiny_flags
from waifugan.train import distributed
from waifugan.train.checkpoint import load_checkpoint

# 8 steps of batch 8 in 2 chunks of 4: path length at steps 0 and 4, R1 at step 0, ADA
# updates at steps 3 and 7 (started at p 0.3 so the pipe draws), DiffAugment every step.
STEPS_KIMG, HALF_KIMG = 0.064, 0.032
EXTRA = dict(batch_gpu=4, p=0.3)
CLI_NET = ["--preset", "cpu32", "--batch", "8", "--cbase", "256", "--cmax", "16", "--z-dim",
           "16", "--w-dim", "16", "--workers", "0", "--device", "cpu"]  # fmt: skip


def _flags(data: Path, outdir: Path, kimg: float) -> dict:
    return tiny_flags(data, outdir, kimg=kimg, **EXTRA)


def _train_process(flags: dict, resume: str | None, dump_dir: str) -> None:
    """A launched process: train, and at the end dump this rank's complete state."""

    def dump(loop):
        if loop.done:
            state = {k: v for k, v in loop.state_dict().items() if k != "options"}
            torch.save(state, Path(dump_dir) / f"rank{loop.dist.rank}.pt")

    run_train(flags, resume=resume, on_step=dump)


def _assert_same_training_state(a: dict, b: dict, what: str) -> None:
    for key in ("cur_nimg", "batch_idx"):  # (a dump is taken before its tick's end)
        assert a[key] == b[key], (what, key)
    for net in ("G", "G_ema", "D"):  # parameters and buffers (w_avg included)
        for name, tensor in a[net].items():
            assert torch.equal(b[net][name], tensor), f"{what}: {net}.{name}"
    for opt in ("G_opt", "D_opt"):  # Adam's step count and both moments
        for idx, moments in a[opt]["state"].items():
            for k, v in moments.items():
                assert torch.equal(b[opt]["state"][idx][k], v), f"{what}: {opt}[{idx}].{k}"
    assert torch.equal(a["pl_mean"], b["pl_mean"]), what
    assert a["augment"] == b["augment"], what


def _checkpoint(outdir: Path) -> dict:
    (run_dir,) = [p for p in outdir.iterdir() if p.is_dir()]
    return load_checkpoint(run_dir / "checkpoint-000000.pt")


@pytest.fixture(scope="module")
def reference(blob_zip, tmp_path_factory) -> dict:
    """One process, batch 8 in 2 rounds of 4, 8 steps uninterrupted."""
    outdir = tmp_path_factory.mktemp("one-rank")
    run_train(_flags(blob_zip, outdir, STEPS_KIMG))
    return _checkpoint(outdir)


@pytest.mark.slow
def test_one_rank_resumed_on_two_ranks_stays_identical_across_ranks_and_to_one_rank(
    blob_zip, tmp_path, reference
):
    run_train(_flags(blob_zip, tmp_path, HALF_KIMG))  # 4 steps on 1 rank
    flags = {"outdir": str(tmp_path), "kimg": STEPS_KIMG}
    assert distributed.launch(2, _train_process, (flags, "latest", str(tmp_path))) == 0
    rank0, rank1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    _assert_same_training_state(rank0, rank1, "rank 0 vs rank 1")
    _assert_same_training_state(reference, rank0, "2 ranks x 4 vs 1 rank x 8")
    _assert_same_training_state(reference, _checkpoint(tmp_path), "checkpoint")


def _leave_the_group_and_list_threads(outdir: str) -> None:
    """A launched process: join, all-reduce, import what the optimizers import on first use
    (after the group exists, as in training), leave, and write the threads still running."""
    info, device = distributed.init_from_env(torch.device("cpu"))
    distributed.sum_tensor(torch.ones(3), info)
    importlib.import_module("torch._dynamo")
    distributed.shutdown()
    names = [p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm")]
    (Path(outdir) / f"threads{info.rank}.txt").write_text("\n".join(names))


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_leaving_the_group_stops_its_threads_so_exit_cannot_abort(tmp_path):
    # Threads left running race the interpreter's exit: a gloo thread freeing a tensor
    # after finalization began aborted 1 run in 30 (SIGABRT).
    assert distributed.launch(2, _leave_the_group_and_list_threads, (str(tmp_path),)) == 0
    for rank in (0, 1):
        threads = (tmp_path / f"threads{rank}.txt").read_text().split()
        assert not [t for t in threads if "gloo" in t], threads


def _finish_at_different_times(outdir: str) -> None:
    """A launched process: rank 1 arrives 1.5 s late; each writes when it arrived and left."""
    info, _ = distributed.init_from_env(torch.device("cpu"))
    if info.rank == 1:
        time.sleep(1.5)
    arrived = time.time()
    distributed.finish(info)
    left = time.time()
    assert not torch.distributed.is_initialized()
    (Path(outdir) / f"finish{info.rank}.txt").write_text(f"{arrived} {left}")


def test_finish_waits_for_every_rank_before_leaving_the_group(tmp_path):
    # A rank that destroys the group while another still uses it can leave that one hanging
    # (pytorch/pytorch#75097), so on success the ranks leave together.
    assert distributed.launch(2, _finish_at_different_times, (str(tmp_path),)) == 0
    (arrived0, left0), (arrived1, _) = (
        map(float, (tmp_path / f"finish{r}.txt").read_text().split()) for r in (0, 1)
    )
    assert arrived1 - arrived0 > 1.0  # rank 1 came late ...
    assert left0 >= arrived1  # ... and rank 0 waited for it


def _torchrun() -> str:
    found = Path(sys.executable).with_name("torchrun")
    if found.exists():
        return str(found)
    if shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed next to this Python")
    return "torchrun"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_two_ranks_under_torchrun_resume_on_one_rank_as_if_uninterrupted(
    blob_zip, tmp_path, reference
):
    cmd = [_torchrun(), "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port",
           str(_free_port()), "-m", "waifugan", "train", "--data", str(blob_zip), "--outdir",
           str(tmp_path), *CLI_NET, "--kimg", str(HALF_KIMG), "--tick", "0.032", "--snap", "1",
           "--seed", "1", "--batch-gpu", "4", "--p", "0.3", "--pl-weight", "2",
           "--style-mixing", "0.9", "--map-depth", "2"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    assert "x 2 processes" in (run_dir / "log.txt").read_text()
    assert len((run_dir / "stats.jsonl").read_text().splitlines()) == 1  # rank 0 writes alone
    half = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert half["cur_nimg"] == 32 and half["batch_idx"] == 4
    run_train({"outdir": str(tmp_path), "kimg": STEPS_KIMG}, resume="latest")  # 1 rank
    _assert_same_training_state(reference, _checkpoint(tmp_path), "2 ranks, then 1")


def _worker_pids(launcher_pid: int) -> list[int]:
    children = Path(f"/proc/{launcher_pid}/task/{launcher_pid}/children").read_text().split()
    pids = []
    for pid in map(int, children):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            pids.append(pid)
    return pids


def _wait_for(path_glob: Path, process: subprocess.Popen, timeout_s: float = 180) -> Path:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        found = sorted(path_glob.parent.glob(path_glob.name)) if path_glob.parent.exists() else []
        if found:
            return found[0]
        assert process.poll() is None, "training ended before writing a checkpoint"
        time.sleep(0.2)
    raise AssertionError(f"no {path_glob} after {timeout_s} s")


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_killing_one_rank_stops_the_other_and_resume_latest_continues(blob_zip, tmp_path):
    cmd = [sys.executable, "-m", "waifugan", "train", "--data", str(blob_zip), "--outdir",
           str(tmp_path), *CLI_NET, "--kimg", "5", "--tick", "0.016", "--snap", "1",
           "--gpus", "2", "--dist-timeout", "20"]  # fmt: skip
    log = (tmp_path / "stderr.txt").open("w")
    launcher = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_for(tmp_path / "00000-blobs-cpu32" / "checkpoint-*.pt", launcher)
        workers = _worker_pids(launcher.pid)
        assert len(workers) == 2, workers
        os.kill(workers[-1], signal.SIGKILL)
        start = time.monotonic()
        returncode = launcher.wait(timeout=120)
        elapsed = time.monotonic() - start
    finally:
        if launcher.poll() is None:
            launcher.kill()
        log.close()
    output = (tmp_path / "stderr.txt").read_text()
    assert returncode == 1, output[-3000:]
    assert elapsed < 20 + 10, elapsed  # within the timeout (a closed peer is noticed at once)
    assert "was killed by SIGKILL; the others were stopped" in output, output[-3000:]
    assert "--resume latest" in output
    before = load_checkpoint(tmp_path / "00000-blobs-cpu32" / "checkpoint-000000.pt")
    kimg = before["cur_nimg"] / 1000 + 0.016
    run_train({"outdir": str(tmp_path), "kimg": kimg}, resume="latest")  # on 1 rank
    after = load_checkpoint(tmp_path / "00000-blobs-cpu32" / "checkpoint-000000.pt")
    assert after["cur_nimg"] == before["cur_nimg"] + 16


@pytest.mark.slow
def test_a_hung_rank_makes_the_other_exit_after_the_timeout(blob_zip, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "WORLD_SIZE": "2",
           "MASTER_PORT": str(_free_port()), "LOCAL_WORLD_SIZE": "2"}  # fmt: skip
    cmd = [sys.executable, "-m", "waifugan", "train", "--data", str(blob_zip), "--outdir",
           str(tmp_path), *CLI_NET, "--kimg", "5", "--tick", "0.016", "--snap", "1",
           "--dist-timeout", "8"]  # fmt: skip
    ranks = [
        subprocess.Popen(
            cmd,
            env={**env, "RANK": str(r), "LOCAL_RANK": str(r)},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )  # fmt: skip
        for r in range(2)
    ]
    try:
        _wait_for(tmp_path / "00000-blobs-cpu32" / "checkpoint-*.pt", ranks[0])
        os.kill(ranks[1].pid, signal.SIGSTOP)  # alive but silent, like a machine that froze
        start = time.monotonic()
        _, stderr = ranks[0].communicate(timeout=120)
        elapsed = time.monotonic() - start
    finally:
        for process in ranks:
            if process.poll() is None:
                process.kill()
            process.communicate()
    assert ranks[0].returncode == distributed.EXIT_LOST, stderr[-3000:]
    assert 8 <= elapsed < 8 + 30, elapsed
    assert "lost contact with the others" in stderr and "--resume latest" in stderr


def test_the_launcher_names_the_process_that_failed_first(capsys):
    assert distributed._report_failure([3, -9], 2) == 1  # rank 1 killed, rank 0 lost it
    assert "process 1 of 2 was killed by SIGKILL" in capsys.readouterr().err
    assert distributed._report_failure([2, 3, 3], 3) == 2  # a refusal stays a refusal
    assert "process 0 of 3 exited with status 2" in capsys.readouterr().err


def test_process_count_defaults_and_refusals(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.process_count(None, "cpu") == 1
    assert distributed.process_count(3, "cpu") == 3
    if not torch.cuda.is_available():
        assert distributed.process_count(None, "auto") == 1
    with pytest.raises(distributed.WaifuganError, match="--gpus must be ≥ 1"):
        distributed.process_count(0, "cpu")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert distributed.process_count(None, "auto") == 1  # torchrun started this process
    with pytest.raises(distributed.WaifuganError, match="under torchrun"):
        distributed.process_count(2, "auto")
