"""Fault injection for the reliability tests (tests/reliability, docs/reliability.md).

Unset, `WAIFUGAN_FAULT` costs one dictionary lookup and does nothing. Set, it holds
comma-separated `name:value` pairs that a test process uses to fail on purpose:

    crash_at_kimg:X            the training process kills itself with SIGKILL (no traceback,
                               no chance to save, like the OOM killer) right after its image
                               count first passes X kimg, after that step's tick and snapshot
    checkpoint_write_delay:S   sleep S seconds between writing a checkpoint's temporary file
                               and renaming it into place, so a kill can land mid-write

Only tests set it; nothing else in waifugan reads it.
"""

from __future__ import annotations

import os
import signal
import time

ENV = "WAIFUGAN_FAULT"


def fault(name: str) -> float | None:
    """The value of fault `name` in $WAIFUGAN_FAULT, or None when it is not set."""
    spec = os.environ.get(ENV)
    if not spec:
        return None
    for item in spec.split(","):
        key, _, value = item.partition(":")
        if key.strip() == name:
            return float(value)
    return None


def crash_if_passed(start_nimg: int, cur_nimg: int) -> None:
    """crash_at_kimg: SIGKILL this process once the count passes X kimg in this process (a
    resumed process that starts at or past X does not crash again)."""
    kimg = fault("crash_at_kimg")
    if kimg is not None and start_nimg < kimg * 1000 <= cur_nimg:
        os.kill(os.getpid(), signal.SIGKILL)


def checkpoint_write_delay() -> None:
    """checkpoint_write_delay: widen the window between writing and renaming."""
    seconds = fault("checkpoint_write_delay")
    if seconds:
        time.sleep(seconds)
