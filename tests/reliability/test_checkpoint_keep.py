"""`--keep N [--keep-every M]`: checkpoint housekeeping that never deletes what a resume needs."""

from __future__ import annotations

import pytest

from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.train.checkpoint import load_checkpoint, save_checkpoint
from waifugan.train.rundir import checkpoint_name, list_checkpoints, prune_checkpoints


def _names(run_dir) -> list[str]:
    return sorted(p.name for p in list_checkpoints(run_dir))


def _touch(run_dir, kimgs) -> None:
    for kimg in kimgs:
        (run_dir / checkpoint_name(kimg * 1000)).write_bytes(b"x")


def test_keep_the_newest_and_the_first_of_every_window(tmp_path):
    _touch(tmp_path, range(0, 10))
    (tmp_path / ".checkpoint-000011.pt.abc.tmp").write_bytes(b"x")  # not a checkpoint
    removed = prune_checkpoints(tmp_path, 2, 4, protect=tmp_path / "checkpoint-000009.pt")
    # newest 2: 9, 8; first of each 4-kimg window: 0, 4, 8
    assert _names(tmp_path) == [checkpoint_name(k * 1000) for k in (0, 4, 8, 9)]
    assert sorted(p.name for p in removed) == [
        checkpoint_name(k * 1000) for k in (1, 2, 3, 5, 6, 7)
    ]
    assert (tmp_path / ".checkpoint-000011.pt.abc.tmp").exists()


def test_keep_zero_keeps_everything(tmp_path):
    _touch(tmp_path, range(5))
    assert prune_checkpoints(tmp_path, 0, 0, protect=tmp_path / "checkpoint-000004.pt") == []
    assert len(_names(tmp_path)) == 5


def test_the_checkpoint_just_written_survives_newer_names(tmp_path):
    # resumed from an older checkpoint: 7..9 are an abandoned continuation, 3 was just written
    _touch(tmp_path, [1, 2, 3, 7, 8, 9])
    prune_checkpoints(tmp_path, 1, 0, protect=tmp_path / "checkpoint-000003.pt")
    assert _names(tmp_path) == ["checkpoint-000003.pt", "checkpoint-000009.pt"]


def test_training_with_keep_deletes_old_checkpoints_after_each_save(blob_zip, tmp_path):
    # a checkpoint at 5 kimg with five older ones beside it; resume it with --keep 2
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016))
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    for kimg in range(1, 6):
        state.update(cur_nimg=kimg * 1000, tick_start_nimg=kimg * 1000)
        save_checkpoint(state, run_dir / checkpoint_name(kimg * 1000))
    flags = {"outdir": str(tmp_path), "kimg": 5.016, "keep": 2, "keep_every_kimg": 2}
    run_train(flags, resume="latest")
    # newest 2: 5 (rewritten at 5.016) and 4; first of each 2-kimg window: 0, 2, 4
    assert _names(run_dir) == [checkpoint_name(k * 1000) for k in (0, 2, 4, 5)]
    assert load_checkpoint(run_dir / "checkpoint-000005.pt")["cur_nimg"] == 5016
    assert (
        "--keep 2: deleted checkpoint-000003.pt, checkpoint-000001.pt"
        in (run_dir / "log.txt").read_text()
    )


def test_negative_keep_is_refused(blob_zip, tmp_path):
    with pytest.raises(WaifuganError, match="--keep must be ≥ 0"):
        run_train(tiny_flags(blob_zip, tmp_path, keep=-1))
