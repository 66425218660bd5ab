"""`make bench`: run every benchmarks/bench_*.py in turn and print their tables.

Each script is standalone (`python benchmarks/bench_x.py`) and prints a Markdown table of
medians and ratios against a baseline measured in the same run. Run on a quiet machine.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path

import torch


def main() -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    only = set(sys.argv[1:])
    print(f"# waifugan benchmarks — {time.strftime('%Y-%m-%d %H:%M')}")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}\n"
    )
    failed = []
    for script in scripts:
        if only and script.stem not in only:
            continue
        print(f"## {script.stem}\n", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(f"\n({script.name}: {time.perf_counter() - started:.0f} s)\n", flush=True)
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
