"""Run-directory records: log.txt, stats.jsonl (one object per tick) and TensorBoard scalars."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

import torch

from waifugan.train.rundir import LOG_TXT, STATS_JSONL, append_jsonl


class RunLog:
    """Appends to a run directory's log.txt / stats.jsonl and TensorBoard event files."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self._writer: Any = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir))

    def line(self, text: str, echo: bool = True) -> None:
        """A line in log.txt (and on stderr when echo)."""
        if not self.enabled:
            return
        if echo:
            print(text, file=sys.stderr, flush=True)
        with open(self.run_dir / LOG_TXT, "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def tick(self, record: dict[str, Any]) -> None:
        """One stats.jsonl record plus its numbers as TensorBoard scalars at step = kimg."""
        if not self.enabled:
            return
        append_jsonl(self.run_dir / STATS_JSONL, record)
        step = int(record["kimg"] * 1000)
        for key, value in record.items():
            if isinstance(value, int | float) and key not in ("kimg", "tick"):
                self._writer.add_scalar(key.replace(".", "/"), value, global_step=step)
        self._writer.flush()

    def scalars(self, values: dict[str, float], kimg: float) -> None:
        """Extra scalars (e.g. metrics) in TensorBoard."""
        if self.enabled:
            for key, value in values.items():
                self._writer.add_scalar(f"metrics/{key}", value, global_step=int(kimg * 1000))
            self._writer.flush()

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (and of CUDA allocations on GPU) in MiB."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out
