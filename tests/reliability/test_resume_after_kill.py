"""What a SIGKILL leaves behind, and how a resume cleans it up (in-process, fast).

A kill mid-write leaves `.checkpoint-*.tmp` (a full checkpoint's size, never a checkpoint);
a kill after a tick but before the next checkpoint leaves stats.jsonl lines past the
checkpoint (and possibly a torn last line). A resume removes the first and drops the second,
so the run's kimg never goes backwards in stats.jsonl.
"""

from __future__ import annotations

import json

import pytest

from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.run import open_resume
from waifugan.train.rundir import find_resume_checkpoint, list_checkpoints, read_stats


def test_resume_removes_an_interrupted_write_and_the_lost_ticks(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.032, tick_kimg=0.016, snap=2))
    good = run_dir / "checkpoint-000000.pt"
    data = good.read_bytes()
    # a kill mid-write of the next checkpoint, after two more ticks were logged
    stale = run_dir / ".checkpoint-000000.pt.k1ll3d.tmp"
    stale.write_bytes(data[: len(data) // 3])
    stats = run_dir / "stats.jsonl"
    with open(stats, "a") as f:
        f.write(json.dumps({"kimg": 0.048, "tick": 2}) + "\n")
        f.write('{"kimg": 0.064, "ti')  # torn by the kill
    assert list_checkpoints(run_dir) == [good]  # the temporary file is not a checkpoint
    assert find_resume_checkpoint(tmp_path)[0] == good

    assert run_train({"outdir": str(tmp_path), "kimg": 0.064}, resume="latest") == run_dir
    assert not stale.exists()
    kimgs = [r["kimg"] for r in read_stats(run_dir)]
    assert kimgs == [0.016, 0.032, 0.048, 0.064]  # lost ticks redone once, in order
    assert len(stats.read_text().splitlines()) == 4  # no torn line left
    log = (run_dir / "log.txt").read_text()
    assert "removed .checkpoint-000000.pt.k1ll3d.tmp" in log
    assert "dropped 2 stats.jsonl line(s)" in log
    assert load_checkpoint(good)["cur_nimg"] == 64


def test_resume_from_a_run_directory_takes_its_newest_valid_checkpoint(blob_zip, tmp_path):
    first = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016))
    second = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016))
    assert run_train({"outdir": str(tmp_path), "kimg": 0.032}, resume=str(first)) == first
    assert load_checkpoint(first / "checkpoint-000000.pt")["cur_nimg"] == 32
    assert load_checkpoint(second / "checkpoint-000000.pt")["cur_nimg"] == 16


def test_resume_from_a_run_directory_without_a_checkpoint_says_so(tmp_path):
    (tmp_path / "00000-x-cpu32").mkdir()
    with pytest.raises(WaifuganError, match="no valid checkpoint in this run directory"):
        open_resume(str(tmp_path / "00000-x-cpu32"), tmp_path)
