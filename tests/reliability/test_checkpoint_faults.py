"""Checkpoint writes that fail (in-process, injected).

A disk that fills up or returns EIO mid-write must leave the previous checkpoint intact and
loadable and no partial file, and stop the run with a message saying what happened.
"""

from __future__ import annotations

import errno
import io
import os

import pytest

import waifugan.train.checkpoint as checkpoint_module
from tests.train.conftest import run_train, tiny_flags
from waifugan.train.checkpoint import CheckpointWriteError, load_checkpoint


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
