"""Helpers of the reliability suite: tiny training commands in subprocesses, and figures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

# 16 px, a few thousand parameters, 32 images a step: ~400 img/s on one core
TINY_TRAIN = [
    "--preset", "cpu32", "--batch", "32", "--cbase", "256", "--cmax", "16", "--z-dim", "16",
    "--w-dim", "16", "--map-depth", "2", "--device", "cpu", "--workers", "0",
]  # fmt: skip


def waifugan(args: list[str], fault: str | None = None, **popen) -> subprocess.Popen:
    """`python -m waifugan ARGS` in a subprocess (one thread; WAIFUGAN_FAULT when given)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("WAIFUGAN_FAULT", None)
    if fault:
        env["WAIFUGAN_FAULT"] = fault
    return subprocess.Popen(
        [sys.executable, "-m", "waifugan", *args], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, **popen,
    )  # fmt: skip


def wait_until(
    condition: Callable[[], bool], proc: subprocess.Popen, timeout: float, poll_s: float = 0.01
) -> bool:
    """Poll `condition` until true (True), the process ends or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(poll_s)
    return False


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/status")


def figure(name: str, **values: object) -> None:
    """Print one figure of docs/reliability.md (seen with `pytest -s`)."""
    print(f"\nFIGURE {name}: " + ", ".join(f"{k}={v}" for k, v in values.items()), flush=True)
