"""Checkpoint writes that fail, and training that goes non-finite (in-process, injected).

A disk that fills up or returns EIO mid-write must leave the previous checkpoint intact and
loadable and no partial file, and stop the run with a message saying what happened. A NaN/inf
in a loss or a weight stops the run with a message naming the tensor (waifugan stops rather
than rolling back: a rollback replays the same data and random numbers into the same
divergence) and never writes a poisoned checkpoint, also when a stop signal arrives first.
"""

from __future__ import annotations

import errno
import io
import os
import signal

import pytest
import torch

import waifugan.train.checkpoint as checkpoint_module
from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.train import losses
from waifugan.train.checkpoint import CheckpointWriteError, load_checkpoint, save_checkpoint


class _OsWithFaults:
    """The `os` module as checkpoint.py sees it, with the `fail_on`-th call of `failing`
    failing the way a full or broken disk does; everything else is the real module."""

    def __init__(self, failing: str, code: int, fail_on: int, after_bytes: int = 0) -> None:
        self.failing, self.code, self.fail_on, self.after_bytes = (
            failing,
            code,
            fail_on,
            after_bytes,
        )
        self.calls = 0

    def __getattr__(self, name: str):
        return getattr(os, name)

    def _error(self) -> OSError:
        return OSError(self.code, os.strerror(self.code))

    def _this_one(self, name: str) -> bool:
        if name != self.failing:
            return False
        self.calls += 1
        return self.calls == self.fail_on

    def fdopen(self, fd: int, mode: str):
        real = os.fdopen(fd, mode)
        return (
            _FailingFile(real, self.after_bytes, self._error) if self._this_one("write") else real
        )

    def fsync(self, fd: int) -> None:
        if self._this_one("fsync"):
            raise self._error()
        os.fsync(fd)


class _FailingFile(io.RawIOBase):
    """A file whose writes fail once `limit` bytes are written (the rest never arrives)."""

    def __init__(self, real, limit: int, error) -> None:
        self.real, self.limit, self.error, self.written = real, limit, error, 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        room = self.limit - self.written
        if len(data) > room:
            self.real.write(bytes(data[: max(room, 0)]))
            self.real.flush()
            self.written = self.limit
            raise self.error()
        self.written += len(data)
        return self.real.write(data)

    def fileno(self) -> int:
        return self.real.fileno()

    def flush(self) -> None:
        self.real.flush()

    def close(self) -> None:
        self.real.close()
        super().close()


# each save calls fdopen once and fsync twice (the file, then its folder): the second save fails
@pytest.mark.parametrize(
    "failing, code, fail_on",
    [("write", errno.ENOSPC, 2), ("write", errno.EIO, 2), ("fsync", errno.EIO, 3)],
    ids=["ENOSPC-in-write", "EIO-in-write", "EIO-in-fsync"],
)
def test_a_failed_checkpoint_write_keeps_the_previous_one(
    blob_zip, tmp_path, monkeypatch, failing, code, fail_on
):
    # the first snapshot writes checkpoint-000000.pt (32 images); the second write, under the
    # same name (64 images), fails half way: the first must survive untouched
    fake_os = _OsWithFaults(failing, code, fail_on, after_bytes=100_000)
    monkeypatch.setattr(checkpoint_module, "os", fake_os)
    with pytest.raises(CheckpointWriteError) as caught:
        run_train(tiny_flags(blob_zip, tmp_path, kimg=0.064, tick_kimg=0.032, snap=1))
    message = str(caught.value)
    assert "checkpoint-000000.pt" in message and os.strerror(code) in message
    assert "partial file was removed" in message
    run_dir = next(tmp_path.iterdir())
    assert sorted(p.name for p in run_dir.glob("*checkpoint*")) == ["checkpoint-000000.pt"]
    assert load_checkpoint(run_dir / "checkpoint-000000.pt")["cur_nimg"] == 32


def test_the_cli_says_a_failed_write_in_one_line(blob_zip, tmp_path, monkeypatch, capsys):
    from waifugan.cli import main

    monkeypatch.setattr(checkpoint_module, "os", _OsWithFaults("write", errno.ENOSPC, 2, 5000))
    flags = tiny_flags(blob_zip, tmp_path, kimg=0.064, tick_kimg=0.032, snap=1)
    argv = ["train", "--data", flags["data"], "--outdir", flags["outdir"], "--preset", "cpu32",
            "--batch", "8", "--kimg", "0.064", "--tick", "0.032", "--snap", "1", "--cbase",
            "256", "--cmax", "16", "--z-dim", "16", "--w-dim", "16", "--workers", "0",
            "--device", "cpu"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "waifugan train: error:" in err and "No space left on device" in err


def test_save_checkpoint_refuses_a_non_finite_tensor_and_names_it(tmp_path):
    state = {"G": {"w": torch.ones(3)}, "G_opt": {"state": {0: {"exp_avg": torch.ones(2)}}}}
    state["G_opt"]["state"][0]["exp_avg"][1] = float("inf")
    with pytest.raises(WaifuganError, match=r"tensor G_opt\.state\.0\.exp_avg holds NaN or inf"):
        save_checkpoint(state, tmp_path / "checkpoint-000000.pt")
    assert list(tmp_path.iterdir()) == []


def _nan_d_loss_from(step: int, real=losses.d_logistic_loss):
    calls = []

    def d_logistic_loss(real_logits, fake_logits):
        calls.append(1)
        loss = real(real_logits, fake_logits)
        return loss * float("nan") if len(calls) > step else loss

    return d_logistic_loss


def test_a_nan_loss_stops_the_run_naming_it_and_keeps_the_last_good_checkpoint(
    blob_zip, tmp_path, monkeypatch
):
    monkeypatch.setattr(losses, "d_logistic_loss", _nan_d_loss_from(step=5))  # in tick 2
    with pytest.raises(WaifuganError) as caught:
        run_train(tiny_flags(blob_zip, tmp_path, kimg=0.128, tick_kimg=0.032, snap=1))
    message = str(caught.value)
    assert "diverged at 0.064 kimg" in message and "loss/D" in message
    assert "D." in message  # the first D weight the NaN gradient reached
    run_dir = next(tmp_path.iterdir())
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32  # the tick before: finite, resumable
    assert checkpoint_module.first_non_finite(state) is None


def test_an_inf_weight_stops_the_run_naming_the_tensor(blob_zip, tmp_path):
    def poison(loop):
        if loop.batch_idx == 6:
            loop.G_ema.mapping.fc1.weight.data[0, 0] = float("inf")

    with pytest.raises(WaifuganError, match=r"non-finite G_ema\.mapping\.fc1\.weight"):
        run_train(tiny_flags(blob_zip, tmp_path, kimg=0.128, tick_kimg=0.032), on_step=poison)
    state = load_checkpoint(next(tmp_path.iterdir()) / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32 and checkpoint_module.first_non_finite(state) is None


def test_a_stop_signal_after_a_nan_writes_no_poisoned_checkpoint(blob_zip, tmp_path):
    # SIGTERM mid-tick saves at once, before the end-of-tick check: the write itself refuses
    def poison_then_stop(loop):
        if loop.batch_idx == 5:
            loop.D.b16.conv0.weight.data[0] = float("nan")
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(WaifuganError, match=r"tensor D\.b16\.conv0\.weight holds NaN or inf"):
        run_train(
            tiny_flags(blob_zip, tmp_path, kimg=0.128, tick_kimg=0.032), on_step=poison_then_stop
        )
    state = load_checkpoint(next(tmp_path.iterdir()) / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32 and checkpoint_module.first_non_finite(state) is None
