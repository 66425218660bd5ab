"""`prepare(cfg)`: the whole stage chain, parallel over inputs, streaming and resumable.

Three parts, as img2dataset splits them: the worker runs the per-image stages (process.py),
the distributor runs workers over a process pool and hands results back strictly in input
order (distributor.py), and the writer decides duplicates and appends images and a journal
line (writer.py). So a rerun or a resumed run gives a byte-identical dataset whatever the
scheduling. This module only enumerates inputs, checks them up front and connects the parts.
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from waifugan.assets import asset_path
from waifugan.errors import AssetError, WaifuganError
from waifugan.prepare.config import WAIFU2X_WEIGHTS_ASSET, PrepareConfig
from waifugan.prepare.distributor import run_ordered
from waifugan.prepare.metadata import Selection, iter_selected_items
from waifugan.prepare.pack import DatasetWriter, WorkDir
from waifugan.prepare.process import Worker
from waifugan.prepare.report import Report, write_report
from waifugan.prepare.sources import Item, Reject, check_sources, iter_sources
from waifugan.prepare.writer import Writer


@dataclass
class PrepareResult:
    """What `prepare` made: the dataset, its report and the counts."""

    output: Path
    report_dir: Path
    images: int
    report: Report = field(repr=False)


def iter_entries(cfg: PrepareConfig) -> Iterator[Item | Reject]:
    """Inputs in their stable order (sources or Danbooru selection), at most --limit images."""
    if cfg.metadata:
        sel = Selection(
            frozenset(cfg.tags), frozenset(cfg.exclude_tags), frozenset(cfg.ratings), cfg.min_score
        )
        stream: Iterator[Item | Reject] = iter_selected_items(cfg.sources, cfg.metadata, sel)
    else:
        stream = iter_sources(cfg.sources)
    images = 0
    for entry in stream:
        if isinstance(entry, Item):
            if cfg.limit is not None and images >= cfg.limit:
                return
            images += 1
        yield entry


def _count_entries(cfg: PrepareConfig) -> int:
    """A cheap first pass over names only, so the progress bar can show an ETA."""
    return sum(1 for _ in iter_entries(cfg))


def _preflight(cfg: PrepareConfig) -> None:
    """Fail before any work when assets or sources are missing."""
    check_sources(cfg.sources)
    for name in cfg.metadata:
        if not Path(name).is_file():
            raise WaifuganError(f"--metadata {name}: no such file")
    worker = Worker(cfg)
    if cfg.detect:
        _ = worker.detector


def resolve_upscaler(cfg: PrepareConfig) -> PrepareConfig:
    """Check the waifu2x weights (their checksum, without importing torch here) once, before
    any work: `--upscale waifu2x` refuses without them; `auto` falls back to Lanczos with a
    warning, since a dataset that only needs downscaling must not depend on a download."""
    if cfg.upscale not in ("auto", "waifu2x"):
        return cfg
    try:
        asset_path(WAIFU2X_WEIGHTS_ASSET[cfg.waifu2x_model], cfg.waifu2x_weights)
    except AssetError as error:
        if cfg.upscale == "waifu2x":
            raise
        print(
            f"prepare: waifu2x unavailable ({error}); crops smaller than {cfg.resolution} px "
            "are enlarged with Lanczos instead (--upscale lanczos silences this; set "
            "WAIFUGAN_ASSETS or --waifu2x-weights to use waifu2x)",
            file=sys.stderr,
        )
        return dataclasses.replace(cfg, upscale="lanczos")
    return dataclasses.replace(cfg, upscale="waifu2x")


def report_dir_for(cfg: PrepareConfig) -> Path:
    """Where report.json and the contact sheets go (next to the dataset, never inside)."""
    if cfg.report_dir:
        return Path(cfg.report_dir)
    output = Path(cfg.output)
    stem = output.name[: -len(".zip")] if output.name.endswith(".zip") else output.name
    return output.with_name(stem + "-report")


def _process_all(cfg: PrepareConfig, work: WorkDir, writer: Writer, report: Report) -> None:
    """Run every not-yet-journaled input through the workers and the writer, with a bar."""
    total = _count_entries(cfg) if cfg.progress else None
    todo = (e for e in iter_entries(cfg) if e.key not in writer.done)
    metas = {}  # key → Danbooru fields of entries in flight (results carry only the key)

    def tracked() -> Iterator[Item | Reject]:
        for entry in todo:
            if isinstance(entry, Item) and entry.meta is not None:
                metas[entry.key] = entry.meta
            yield entry

    bar = tqdm(total=total, initial=len(writer.done), unit="img", desc="prepare",
               disable=not cfg.progress, smoothing=0.1)  # fmt: skip
    work.open()
    try:
        with bar:
            for result in run_ordered(tracked(), cfg):
                writer.add(result, metas.pop(result.key, None))
                bar.update(1)
                if cfg.progress and bar.n % 64 == 0:  # the postfix costs more than the bar
                    bar.set_postfix(written=writer.next_index, rejected=report.rejected)
    finally:
        work.close()


def prepare(cfg: PrepareConfig) -> PrepareResult:
    """Raw illustrations → training dataset (zip or folder) + report; resumable."""
    started = time.perf_counter()
    cfg = resolve_upscaler(cfg)  # before the fingerprint: a resume must upscale the same way
    output = Path(cfg.output)
    if output.exists() and not cfg.overwrite:
        leftover = WorkDir.leftover(output, cfg.fingerprint())
        note = ""
        if leftover is not None:  # a finished run killed while tidying up
            shutil.rmtree(leftover, ignore_errors=True)
            note = f" (made by an earlier run of these options; removed its leftover {leftover})"
        raise WaifuganError(
            f"{output}: already exists{note}; pass --overwrite or choose another path"
        )
    _preflight(cfg)
    output.parent.mkdir(parents=True, exist_ok=True)
    work = WorkDir(output, cfg.fingerprint(), discard_other=cfg.overwrite)
    report = Report(cfg)
    dataset = DatasetWriter(work, as_zip=output.suffix.lower() == ".zip")
    writer = Writer(cfg, work, report, dataset)
    try:
        writer.restore(work.recover())
        dataset.rebuild(writer.next_index, cfg.progress)
        _process_all(cfg, work, writer, report)
    except BaseException:
        dataset.abort()
        raise
    report.seconds_wall = time.perf_counter() - started
    report_dir = report_dir_for(cfg)
    if writer.next_index == 0:
        dataset.abort()
        write_report(report, work, report_dir, None)
        work.remove()
        raise WaifuganError(
            f"nothing usable came out of {report.inputs} inputs ({report.rejected} rejected); "
            f"see {report_dir / 'summary.txt'} for every reason"
        )
    pack_started = time.perf_counter()
    images = dataset.close()
    report.stage_seconds["pack"] = time.perf_counter() - pack_started
    report.seconds_wall = time.perf_counter() - started
    # The report before the dataset appears: a kill before the move only means a rerun that
    # rebuilds the dataset from the journal; after it, only the work folder is left over.
    write_report(report, work, report_dir, output)
    dataset.move_into_place(output, cfg.overwrite)
    work.remove()
    return PrepareResult(output=output, report_dir=report_dir, images=images, report=report)
