"""What `waifugan metrics` runs: a model (or a second dataset) against a dataset, and the log.

Results of a model inside a run directory (a folder holding options.json) are appended to the
run's metrics.jsonl, one JSON object per evaluation, next to stats.jsonl.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.metrics.registry import (
    compute_metrics,
    evaluate_specs,
    make_extractors,
    parse_metric_name,
)
from waifugan.metrics.samples import TAGGER, DatasetImages
from waifugan.metrics.stats import open_dataset
from waifugan.metrics.tagger_features import default_tagger_path
from waifugan.train.rundir import (
    append_metrics,
    checkpoint_kimg,
    newest_run_checkpoint,
    run_dir_of,
)


@dataclass(frozen=True)
class MetricsConfig:
    """Options of one `waifugan metrics` evaluation."""

    data: str  # reference dataset (zip or folder)
    model: str | None = None  # .safetensors, checkpoint or run directory
    data2: str | None = None  # instead of a model: a second dataset (real vs real)
    metrics: tuple[str, ...] = ("fid10k", "kid10k", "facerate10k")
    psi: float = 1.0  # truncation of the generated images; 1 = none (the standard protocol)
    max_real: int | None = None  # real images per metric; default: the metric's N
    batch_size: int = 64  # images per feature batch (Inception or tagger)
    tagger: str | None = None  # tagger whose features tagfd uses; default: the bundled one
    device: str = "auto"
    cache_dir: str | None = None  # real statistics cache; default $WAIFUGAN_CACHE/metrics
    log: bool = True  # append to the run directory's metrics.jsonl


@dataclass(frozen=True)
class MetricsReport:
    """Results of one evaluation and where they were logged."""

    results: dict[str, float]
    record: dict[str, Any] = field(default_factory=dict)
    jsonl_path: Path | None = None


def compare_datasets(
    names: list[str],
    data: str | os.PathLike[str],
    data2: str | os.PathLike[str],
    device: str,
    *,
    max_real: int | None = None,
    batch_size: int = 64,
    cache_dir: str | os.PathLike[str] | None = None,
    tagger: str | os.PathLike[str] | None = None,
) -> dict[str, float]:
    """Real vs real: metrics of `data2` against `data`, both at the smaller resolution."""
    resolution = min(open_dataset(d, None).resolution for d in (data, data2))
    specs = [parse_metric_name(n) for n in names]
    extractors = make_extractors(specs, device, batch_size=batch_size, tagger=tagger)
    candidate, reference = (
        DatasetImages(d, extractors, resolution, max_real, cache_dir) for d in (data2, data)
    )
    return evaluate_specs(specs, candidate, reference)


def run_metrics(cfg: MetricsConfig) -> MetricsReport:
    """Evaluate cfg.model (or cfg.data2) against cfg.data; log to the run's metrics.jsonl."""
    if (cfg.model is None) == (cfg.data2 is None):
        raise WaifuganError("give either a MODEL or --data2 (a second dataset), not both")
    started = time.time()
    names = list(cfg.metrics)
    if cfg.data2 is not None:
        results = compare_datasets(
            names, cfg.data, cfg.data2, cfg.device,
            max_real=cfg.max_real, batch_size=cfg.batch_size, cache_dir=cfg.cache_dir,
            tagger=cfg.tagger,
        )  # fmt: skip
    else:
        import waifugan

        assert cfg.model is not None
        device = resolve_device(cfg.device)
        G = waifugan.load(cfg.model, device)
        results = compute_metrics(
            names, G, cfg.data, device, psi=cfg.psi, cache_dir=cfg.cache_dir,
            max_real=cfg.max_real, batch_size=cfg.batch_size, tagger=cfg.tagger,
        )  # fmt: skip
    # Flat, like the records the training loop writes to the same metrics.jsonl.
    record: dict[str, Any] = {
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "model": cfg.model,
        "data": cfg.data,
        "data2": cfg.data2,
        "psi": cfg.psi,
        "max_real": cfg.max_real,
        "total_sec": round(time.time() - started, 1),
    }
    if any(parse_metric_name(name).uses == TAGGER for name in names):
        record["tagger"] = str(cfg.tagger or default_tagger_path())  # which space tagfd used
    kimg = checkpoint_kimg(cfg.model) if cfg.model is not None else None
    if kimg is not None:
        record.update(kimg=float(kimg), snapshot=Path(cfg.model or "").name)
    record.update(results)
    run_dir = _run_dir_of_model(cfg.model) if cfg.model is not None and cfg.log else None
    jsonl = append_metrics(run_dir, record) if run_dir is not None else None
    return MetricsReport(results, record, jsonl)


def _run_dir_of_model(model: str) -> Path | None:
    """The run whose metrics.jsonl gets the record: MODEL's own, or for an --outdir of runs
    the run load_generator took the generator from."""
    run_dir = run_dir_of(model)
    if run_dir is None and Path(model).is_dir():
        found = newest_run_checkpoint(model)
        run_dir = found[0].parent if found is not None else None
    return run_dir


def format_table(results: dict[str, float]) -> str:
    """Results as a two-column Markdown table."""
    lines = ["| metric | value |", "| --- | --- |"]
    lines += [f"| {name} | {value:.6g} |" for name, value in results.items()]
    return "\n".join(lines)
