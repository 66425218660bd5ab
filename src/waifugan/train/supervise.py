"""`waifugan train --restarts N`: run training as a child process and rerun it after a crash.

A crash that kills the process (the OOM killer's SIGKILL, a segfault in a native library, a
driver error) cannot be caught inside it, so the supervisor is the parent: it runs the same
`waifugan train` command as a child and, after a crash, reruns it with `--resume RUN_DIR`
(the newest valid checkpoint of the run the child was training), waiting `delay_s`, then
twice as long after each further crash (at most MAX_DELAY_S).

A crash is a non-zero exit other than 2 (a refusal with a message: bad input, divergence, a
full disk; rerunning the same command gets the same answer) and 130 (interrupted), or death
by a signal other than SIGINT/SIGTERM. SIGINT/SIGTERM sent to the supervisor are passed on
to the child, which checkpoints and exits, and end the supervision. A run whose last logged
tick is the same at two crashes in a row made no progress between them and is not rerun.
With a time limit (`--minutes`) each child gets the minutes left, and none starts once
they are spent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from waifugan.train.rundir import (
    LOG_TXT,
    last_tick_kimg,
    list_checkpoints,
    list_runs,
    run_dir_of,
)

TRAIN_COMMAND = (sys.executable, "-m", "waifugan", "train")
MAX_DELAY_S = 600.0
NOT_CRASHES = {0, 2, 130, -signal.SIGINT, -signal.SIGTERM}


def crash_reason(returncode: int) -> str | None:
    """Why a child's exit is a crash ("exit status 1", "killed by SIGKILL"), or None."""
    if returncode in NOT_CRASHES:
        return None
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit status {returncode}"


def with_resume(args: Sequence[str], target: str) -> list[str]:
    """The command's arguments with `--resume target` in place of any --resume it had."""
    out: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--resume":
            skip = True
        elif not arg.startswith("--resume="):
            out.append(arg)
    return [*out, "--resume", target]


def _resume_value(args: Sequence[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith("--resume="):
            return arg.split("=", 1)[1]
        if arg == "--resume" and i + 1 < len(args):
            return args[i + 1]
    return None


class Supervisor:
    """Runs one training command, restarting it after crashes (see the module docstring)."""

    def __init__(
        self,
        args: Sequence[str],
        outdir: str | os.PathLike[str],
        restarts: int,
        delay_s: float = 10.0,
        command: Sequence[str] = TRAIN_COMMAND,
        sleep: Callable[[float], None] = time.sleep,
        stop_at: float | None = None,
    ) -> None:
        self.args = list(args)
        self.outdir = Path(outdir)
        self.restarts = restarts
        self.delay_s = delay_s
        self.command = list(command)
        self.sleep = sleep
        self.stop_at = stop_at  # time.time() at which the whole supervised run ends
        self.child: subprocess.Popen[bytes] | None = None
        self.stop_signal: int | None = None  # SIGINT/SIGTERM the user sent the supervisor
        self.runs_before = set(list_runs(self.outdir))

    def run(self) -> int:
        """Run, restart after crashes; returns the exit status to leave with."""
        args, delay, last_point = self.args, self.delay_s, None
        for attempt in range(self.restarts + 1):
            code = self._run_child(args)
            reason = crash_reason(code)
            if reason is None or self.stop_signal is not None:
                return 128 - code if code < 0 else code  # killed by signal N: 128 + N
            run_dir = self._run_dir()
            point = last_tick_kimg(run_dir) if run_dir is not None else None
            where = f"at {point:.3f} kimg" if point is not None else "before its first tick"
            self._say(run_dir, f"training crashed ({reason}) {where}")
            if attempt > 0 and point == last_point:
                self._say(run_dir, f"it crashed {where} twice in a row, making no progress in "
                          "between; not restarting (see the log above for the cause)")  # fmt: skip
                return 1
            if attempt == self.restarts:
                self._say(run_dir, f"no restarts left (--restarts {self.restarts})")
                return 128 - code if code < 0 else code
            left = self._minutes_left()
            if left is not None and left <= delay / 60:  # no time to wait and train
                self._say(run_dir, "the time limit (--minutes) is reached: not restarting")
                return 128 - code if code < 0 else code
            last_point = point
            if run_dir is not None and list_checkpoints(run_dir):
                args = with_resume(self.args, str(run_dir))
                how = f"resuming {run_dir}"
            else:
                args = self.args  # nothing to resume yet: the same command again
                how = "from the start (no checkpoint yet)"
            self._say(run_dir, f"restart {attempt + 1}/{self.restarts} in {delay:g} s, {how}")
            self.sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
        raise AssertionError("unreachable")

    def _run_child(self, args: list[str]) -> int:
        """Run the child to its end, passing SIGINT/SIGTERM on to it."""
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._forward)
        try:
            left = self._minutes_left()
            limit = [] if left is None else ["--minutes", f"{max(left, 1e-3):.4f}"]
            self.child = subprocess.Popen([*self.command, *args, *limit])
            return self.child.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.child = None

    def _minutes_left(self) -> float | None:
        return None if self.stop_at is None else (self.stop_at - time.time()) / 60

    def _forward(self, signum: int, frame: object) -> None:
        # A Ctrl-C reaches the child too (same process group): the loop takes a signal that
        # arrives twice within a second as one request, so this does not abort its checkpoint.
        self.stop_signal = signum
        if self.child is not None and self.child.poll() is None:
            self.child.send_signal(signum)

    def _run_dir(self) -> Path | None:
        """The run the child was training: the one it created, or the one it resumed."""
        new = [run for run in list_runs(self.outdir) if run not in self.runs_before]
        if new:
            return new[0]
        resumed = _resume_value(self.args)
        if resumed is None:
            return None
        if resumed != "latest":
            path = Path(resumed)
            return path if path.is_dir() else run_dir_of(path) or path.parent
        return next((run for run in list_runs(self.outdir) if list_checkpoints(run)), None)

    def _say(self, run_dir: Path | None, text: str) -> None:
        """A supervisor line on stderr and in the run's log.txt."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {text}"
        print(line, file=sys.stderr, flush=True)
        if run_dir is not None and run_dir.is_dir():
            with open(run_dir / LOG_TXT, "a", encoding="utf-8") as f:
                f.write(line + "\n")


def supervise(
    args: Sequence[str],
    outdir: str | os.PathLike[str],
    restarts: int,
    delay_s: float = 10.0,
    stop_at: float | None = None,
) -> int:
    """Run `waifugan train ARGS`, rerunning it with --resume after up to `restarts` crashes
    (until `stop_at`, a time.time(), when given); returns the exit status."""
    return Supervisor(args, outdir, restarts, delay_s, stop_at=stop_at).run()
