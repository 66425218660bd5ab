"""Run-directory records: log.txt, stats.jsonl (one object per tick) and TensorBoard scalars,
and the per-tick statistics that go into them."""

from __future__ import annotations

import math
import os
import resource
import statistics
import sys
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from waifugan.errors import WaifuganError
from waifugan.train import distributed
from waifugan.train.distributed import DistInfo
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


class TickStats:
    """Per-tick running means of the phases' losses and penalties, averaged over ranks."""

    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}

    def add(self, key: str, value: torch.Tensor) -> None:
        """Accumulate the mean of `value` under `key` (stays on the device: no sync)."""
        value = value.detach().float().mean()
        self._sums[key] = self._sums.get(key, torch.zeros_like(value)) + value
        self._sums[key + "/n"] = self._sums.get(key + "/n", torch.zeros_like(value)) + 1

    def means(self, dist: DistInfo) -> dict[str, float]:
        """Means since the last call, over all ranks; starts the next tick empty."""
        sums = {k: distributed.average_scalar(v, dist) for k, v in self._sums.items()}
        self._sums = {}
        return {k: (sums[k] / sums[k + "/n"]).item() for k in sums if not k.endswith("/n")}


def tick_record(
    cur_nimg: int,
    cur_tick: int,
    means: dict[str, float],
    extra: dict[str, float],
    elapsed_s: float,
    tick_nimg: int,
    device: torch.device,
) -> dict[str, Any]:
    """One stats.jsonl object: counters, loss means, extra state, timing and memory."""
    return {
        "kimg": cur_nimg / 1000,
        "tick": cur_tick,
        **{k: round(v, 6) for k, v in sorted(means.items())},
        **extra,
        "sec_per_tick": round(elapsed_s, 3),
        "sec_per_kimg": round(elapsed_s / max(tick_nimg, 1) * 1000, 3),
        "img_per_s": round(tick_nimg / max(elapsed_s, 1e-9), 2),
        **{k: round(v, 1) for k, v in peak_memory_mb(device).items()},
    }


class SlowdownWatch:
    """Names a sudden slowdown of training in the log, once per slow spell.

    On a small machine another job on the same cores does not halve training: PyTorch's
    OpenMP threads wait for a taken core, and 22 img/s measured 1.5 img/s beside a one-thread
    job. A tick slower than `ratio` times the median of the last `window` normal ticks (after
    `min_ticks` of them) starts a spell; slow ticks stay out of the median.
    """

    def __init__(self, ratio: float = 0.4, min_ticks: int = 3, window: int = 20) -> None:
        self.ratio, self.min_ticks = ratio, min_ticks
        self._normal: deque[float] = deque(maxlen=window)
        self._in_spell = False

    def observe(self, img_per_s: float, tick: int, device: torch.device) -> str | None:
        """The warning for this tick's speed when it starts a slow spell, else None."""
        if len(self._normal) >= self.min_ticks:
            usual = statistics.median(self._normal)
            if img_per_s < self.ratio * usual:
                started, self._in_spell = not self._in_spell, True
                return slowdown_message(img_per_s, usual, tick, device) if started else None
        self._in_spell = False
        self._normal.append(img_per_s)
        return None


def slowdown_message(img_per_s: float, usual: float, tick: int, device: torch.device) -> str:
    """Why a tick may be slow and what to do, with the load average where the OS has one."""
    text = (
        f"warning: tick {tick} ran at {img_per_s:.1f} img/s, {100 * img_per_s / usual:.0f}% "
        f"of this run's usual {usual:.1f} img/s"
    )
    if device.type != "cpu":
        return text + ": is another process using this GPU or the CPU cores that feed it?"
    try:
        load = f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    except (AttributeError, OSError):
        load = ""
    return (
        f"{text}. Another process is probably sharing the CPU cores{load}; training threads "
        "slow far more than in proportion when a core is taken. Pause or stop the other job, "
        "or give each job fewer threads (OMP_NUM_THREADS)"
    )


def tick_line(record: dict[str, Any], means: dict[str, float]) -> str:
    """The log.txt line of a tick."""
    losses_text = " ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in sorted(means.items()))
    return (
        f"tick {record['tick']:<4d} kimg {record['kimg']:<8.3f} {losses_text} "
        f"sec/kimg {record['sec_per_kimg']:.1f} img/s {record['img_per_s']:.1f} "
        f"rss {record['peak_rss_mb']:.0f}MB"
    )


def non_finite(
    means: dict[str, float], modules: Iterable[tuple[str, torch.nn.Module]]
) -> list[str]:
    """Names of the non-finite tick means and of the first non-finite parameter per module."""
    bad = [k for k, v in means.items() if not math.isfinite(v)]
    for name, module in modules:
        for pname, p in module.named_parameters():
            if not torch.isfinite(p).all():
                bad.append(f"{name}.{pname}")
                break
    return bad


def raise_if_non_finite(
    means: dict[str, float], modules: Iterable[tuple[str, torch.nn.Module]], cur_nimg: int
) -> None:
    """WaifuganError naming what is non-finite (before a poisoned checkpoint is written)."""
    bad = non_finite(means, modules)
    if bad:
        raise WaifuganError(
            f"training diverged at {cur_nimg / 1000:.3f} kimg: non-finite "
            f"{', '.join(bad)}. No checkpoint was written for this state; resume from the "
            "last good one with a lower --glr/--dlr or a higher --gamma"
        )


def progress_bar(total_nimg: int, cur_nimg: int, enabled: bool) -> tqdm:
    """The training progress bar in images (rate and ETA), on the main process only."""
    return tqdm(
        total=total_nimg, initial=min(cur_nimg, total_nimg), unit="img", unit_scale=True,
        dynamic_ncols=True, disable=not enabled, desc="train", mininterval=1.0,
    )  # fmt: skip
