"""A stand-in for `waifugan train` that the supervisor tests run as its child (no torch:
starts in ~50 ms). Attempt i follows step i of the JSON plan in $FAKE_PLAN:

    {"ticks": [kimg, ...], "checkpoint": bool, "end": "exit:N" | "signal:N" | "wait"}

It appends its arguments to $FAKE_CALLS, logs the ticks to <outdir>/00000-fake/stats.jsonl
(the run directory is created on the first attempt), writes an empty checkpoint file when
asked, then exits, kills itself, or waits for SIGTERM and exits 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

args = sys.argv[1:]
calls = Path(os.environ["FAKE_CALLS"])
attempt = len(calls.read_text().splitlines()) if calls.exists() else 0
with open(calls, "a") as f:
    f.write(json.dumps(args) + "\n")
step = json.loads(Path(os.environ["FAKE_PLAN"]).read_text())[attempt]
run_dir = Path(args[args.index("--outdir") + 1]) / "00000-fake"
run_dir.mkdir(parents=True, exist_ok=True)
with open(run_dir / "stats.jsonl", "a") as f:
    for kimg in step.get("ticks", []):
        f.write(json.dumps({"kimg": kimg}) + "\n")
if step.get("checkpoint"):
    (run_dir / "checkpoint-000000.pt").touch()
kind, _, value = step["end"].partition(":")
if kind == "exit":
    sys.exit(int(value))
if kind == "signal":
    os.kill(os.getpid(), int(value))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
Path(os.environ["FAKE_CALLS"] + ".waiting").touch()
time.sleep(60)
sys.exit(3)
