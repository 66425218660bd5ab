"""Stopping a run cleanly: SIGINT / SIGTERM (or `request()`) ask the loop to finish its step,
write a checkpoint and return; a second Ctrl-C more than a second later stops at once."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager


class StopRequests:
    """The stop requests of one process; install the handlers with `installed()`."""

    def __init__(self) -> None:
        self.requested = False
        self._time = 0.0  # when the first request came (time.monotonic)

    def request(self) -> None:
        """Ask for a stop after this step, as SIGTERM does."""
        self(signal.SIGTERM, None)

    def __call__(self, signum: int, frame: object) -> None:
        # The same stop often arrives twice at once (a scheduler signalling the process and its
        # group, Ctrl-C forwarded by the --restarts supervisor): one request within a second.
        if self.requested and time.monotonic() - self._time > 1.0:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now, losing only this step
        if self.requested:
            return
        self.requested, self._time = True, time.monotonic()
        print("\nstopping after this step; writing a checkpoint...", flush=True)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """SIGINT and SIGTERM call this object inside the block; the old handlers after."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
