"""The writer: the parent's decisions on each worker result, in input order.

Exact and near duplicates are decided against everything kept before (so the outcome is the
same for any number of workers), kept images get their dataset names, and every input gets a
journal record (the resumable work folder) and its images in the dataset being assembled.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.dedup import THUMB_BYTES, NearDuplicateIndex
from waifugan.prepare.pack import DatasetWriter, WorkDir, sample_name
from waifugan.prepare.process import ItemResult
from waifugan.prepare.report import Report

MAX_REJECT_THUMBS = 64  # thumbnails kept for the rejects contact sheet


class Writer:
    """Decides exact/near duplicates in input order and journals every input."""

    def __init__(
        self, cfg: PrepareConfig, work: WorkDir, report: Report, dataset: DatasetWriter
    ) -> None:
        self.cfg = cfg
        self.work = work
        self.report = report
        self.dataset = dataset
        self.ext = "png" if cfg.format == "png" else "jpg"
        self.index = NearDuplicateIndex(cfg.dedup_distance, cfg.dedup_diff_max)
        self.by_pixels: dict[str, str] = {}  # pixel sha256 → "name (source)" kept
        self.kept: list[str] = []  # index position → "name (source)"
        self.next_index = 0
        self.done: set[str] = set()

    def restore(self, records: list[dict[str, Any]]) -> None:
        """Rebuild the dedup state and counts from an interrupted run's journal."""
        kept = [
            (record["key"], sample)
            for record in records
            for sample in record["samples"]
            if sample.get("augment") is None
        ]
        thumbs = self.work.read_thumbs(len(kept), THUMB_BYTES)
        for (key, sample), thumbnail in zip(kept, thumbs, strict=True):
            value = int(sample["phash"], 16)
            self._keep(sample["pixel_sha256"], value, thumbnail, sample["name"], key)
        for record in records:
            self.done.add(record["key"])
            self.next_index += len(record["samples"])
            self.report.add_record(record)

    def _keep(self, pixel_sha: str, value: int, thumbnail: bytes, name: str, source: str) -> None:
        self.by_pixels[pixel_sha] = f"{name} ({source})"
        self.index.add(value, thumbnail)
        self.kept.append(f"{name} ({source})")

    def _duplicate_of(self, pixel_sha: str, value: int, thumbnail: bytes) -> str | None:
        if not self.cfg.dedup:
            return None
        if pixel_sha in self.by_pixels:
            return f"exact duplicate of {self.by_pixels[pixel_sha]}"
        hit = self.index.match(value, thumbnail)
        if hit is not None:
            return f"near duplicate of {self.kept[hit[0]]}, pHash distance {hit[1]}"
        return None

    def add(self, result: ItemResult, meta: dict[str, Any] | None) -> dict[str, Any]:
        """Decide, append images and journal one input; returns its record."""
        started = time.perf_counter()
        record: dict[str, Any] = {
            "key": result.key,
            "file_sha256": result.file_sha256,
            "info": result.info,
            "meta": meta,
            "samples": [],
            "rejects": [],
            "counts": result.counts,
            "seconds": result.seconds,  # rounded by the worker
        }
        for sample in result.samples:
            duplicate = self._duplicate_of(sample.pixel_sha256, sample.phash, sample.thumb)
            if duplicate is not None:
                record["rejects"].append(
                    {"stage": "dedup", "reason": duplicate, "face": sample.face}
                )
                continue
            name = self._name()
            self._keep(sample.pixel_sha256, sample.phash, sample.thumb, name, result.key)
            self.work.append_thumb(sample.thumb)
            base = {
                "face": sample.face,
                "box": sample.box,
                "crop": sample.crop,
                "stats": sample.stats,
                "upscale": self._upscale_label(sample.upscale_doublings),
                "phash": f"{sample.phash:016x}",
                "pixel_sha256": sample.pixel_sha256,
            }
            self._output(record, name, sample.data, base, augment=None)
            for data, params in sample.copies:
                extra = dict(base, augment_of=name, phash=None)  # hashes describe the original
                self._output(record, self._name(), data, extra, augment=params)
        for reject in result.rejects:
            reject = dict(reject)
            thumb = reject.pop("thumb", None)
            if thumb is not None and self.report.thumbs_kept < MAX_REJECT_THUMBS:
                reject["thumb"] = base64.b64encode(thumb).decode()
            record["rejects"].append(reject)
        record["seconds"]["dedup+write"] = round(time.perf_counter() - started, 6)
        self.work.append_record(record)
        self.report.add_record(record)
        return record

    def _name(self) -> str:
        name = sample_name(self.next_index, self.ext)
        self.next_index += 1
        return name

    def _output(
        self, record: dict[str, Any], name: str, data: bytes, base: dict[str, Any], augment: Any
    ) -> None:
        """Append an image to the journal's blob and to the dataset being assembled."""
        offset = self.work.append_blob(data)
        sample = dict(base, name=name, offset=offset, size=len(data), augment=augment)
        record["samples"].append(sample)
        self.dataset.add(record, sample, data)

    def _upscale_label(self, doublings: int) -> str:
        if doublings:
            return f"waifu2x x{2**doublings}"
        return self.cfg.upscale if self.cfg.upscale == "lanczos" else "none"
