"""The run report: counts in/out per stage, every rejected input with its reason, timing per
stage (report.json, summary.txt), and contact sheets of outputs and of rejects."""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.pack import WorkDir, iter_samples

SHEET_COUNT = 64  # images on a contact sheet
SHEET_COLUMNS = 8
SOURCE_STAGES = ("metadata", "sources")
# worker timers → report stages
_STAGE_OF_TIMER = {
    "read": "decode",
    "decode": "decode",
    "faces": "faces",
    "filters": "filters",
    "upscale": "upscale",
    "resize": "resize",
    "hash": "dedup",
    "encode": "write",
    "augment": "augment",
    "dedup+write": "write",
}


class Report:
    """Accumulates per-input records into stage counts, rejects and timings."""

    def __init__(self, cfg: PrepareConfig) -> None:
        self.cfg = cfg
        self.entries = 0
        self.source_rejects = 0
        self.counts: Counter[str] = Counter()
        self.reject_stages: Counter[str] = Counter()
        self.rejects: list[dict[str, Any]] = []
        self.thumbs: list[tuple[str, str]] = []  # (base64 JPEG, label)
        self.images = 0
        self.augmented = 0
        self.upscaled = 0
        self.stage_seconds: dict[str, float] = {}
        self.seconds_wall = 0.0

    @property
    def thumbs_kept(self) -> int:
        """Reject thumbnails collected so far."""
        return len(self.thumbs)

    @property
    def rejected(self) -> int:
        """Rejections so far (an input with two rejected faces counts twice)."""
        return len(self.rejects)

    @property
    def inputs(self) -> int:
        """Input images seen (not counting metadata lines refused before reading a file)."""
        return self.entries - self.source_rejects

    def add_record(self, record: dict[str, Any]) -> None:
        """Count one journaled input."""
        self.entries += 1
        self.counts.update(record.get("counts", {}))
        for timer, seconds in record.get("seconds", {}).items():
            stage = _STAGE_OF_TIMER.get(timer, timer)
            self.stage_seconds[stage] = self.stage_seconds.get(stage, 0.0) + seconds
        for reject in record["rejects"]:
            stage = reject["stage"]
            self.reject_stages[stage] += 1
            if stage in SOURCE_STAGES:
                self.source_rejects += 1
            entry = {"source": record["key"], "stage": stage, "reason": reject["reason"]}
            if reject.get("face") is not None:
                entry["face"] = reject["face"]
            self.rejects.append(entry)
            if "thumb" in reject:
                self.thumbs.append((reject["thumb"], _reason_kind(reject["reason"])))
        for sample in record["samples"]:
            self.images += 1
            if sample.get("augment") is not None:
                self.augmented += 1
            elif str(sample.get("upscale", "")).startswith("waifu2x"):
                self.upscaled += 1

    def stage_table(self) -> list[dict[str, Any]]:
        """Rows (stage, in, out, rejected, seconds) in pipeline order."""
        c, r = self.counts, self.reject_stages
        originals = self.images - self.augmented
        decoded, crops = c["decoded"], c["crops"]
        rows = [
            ("sources", self.entries, self.inputs, r["metadata"] + r["sources"]),
            ("decode", self.inputs, decoded, r["read"] + r["decode"] + r["internal"]),
            ("faces", decoded, crops, r["faces"]),
            ("filters", crops, crops - r["filters"], r["filters"]),
            ("dedup", crops - r["filters"], originals, r["dedup"]),
            ("upscale", originals, originals, 0),
            ("resize", originals, originals, 0),
            ("augment", originals, self.images, 0),
            ("write", self.images, self.images, 0),
        ]
        table = [
            {
                "stage": s,
                "in": i,
                "out": o,
                "rejected": n,
                "seconds": round(self.stage_seconds.get(s, 0.0), 3),
            }
            for s, i, o, n in rows
        ]
        table[5]["upscaled_waifu2x"] = self.upscaled
        return table

    def to_dict(self, output: Path | None) -> dict[str, Any]:
        """The report.json content."""
        return {
            "output": str(output) if output else None,
            "images": self.images,
            "inputs": self.inputs,
            "rejected": self.rejected,
            "faces_detected": self.counts["faces"],
            "augmented": self.augmented,
            "seconds_wall": round(self.seconds_wall, 3),
            "stages": self.stage_table(),
            "stage_seconds_total": {k: round(v, 3) for k, v in sorted(self.stage_seconds.items())},
            "reject_reasons": dict(Counter(_reason_kind(x["reason"]) for x in self.rejects)),
            "rejects": self.rejects,
            "options": json.loads(self.cfg.to_json()),
        }


def _reason_kind(reason: str) -> str:
    return reason.split(":")[0].split(" of ")[0]


def summary_text(data: dict[str, Any], report_dir: Path) -> str:
    """Human-readable summary of a report."""
    lines = [
        f"waifugan prepare: {data['images']} images from {data['inputs']} inputs "
        f"({data['rejected']} rejections) in {data['seconds_wall']:.1f} s",
        f"dataset: {data['output'] or '(none written)'}",
        f"report:  {report_dir / 'report.json'}",
        "",
        f"{'stage':<9} {'in':>8} {'out':>8} {'rejected':>9} {'seconds':>9}",
    ]
    for row in data["stages"]:
        lines.append(
            f"{row['stage']:<9} {row['in']:>8} {row['out']:>8} {row['rejected']:>9} "
            f"{row['seconds']:>9.2f}"
        )
    if data["reject_reasons"]:
        lines += ["", "rejections by reason:"]
        for reason, n in sorted(data["reject_reasons"].items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:>7}  {reason}")
        lines += ["", "rejected inputs (all of them are in report.json):"]
        for x in data["rejects"][:30]:
            face = f" face {x['face']}" if "face" in x else ""
            lines.append(f"  {x['source']}{face}: [{x['stage']}] {x['reason']}")
        if len(data["rejects"]) > 30:
            lines.append(f"  ... and {len(data['rejects']) - 30} more")
    return "\n".join(lines) + "\n"


def _grid(tiles: list[Image.Image], side: int, labels: list[str] | None = None) -> Image.Image:
    rows = (len(tiles) + SHEET_COLUMNS - 1) // SHEET_COLUMNS
    label_px = 12 if labels else 0
    cols = min(SHEET_COLUMNS, len(tiles))
    sheet = Image.new("RGB", (cols * side, rows * (side + label_px)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, tile in enumerate(tiles):
        x, y = (i % SHEET_COLUMNS) * side, (i // SHEET_COLUMNS) * (side + label_px)
        sheet.paste(tile.resize((side, side)) if tile.size != (side, side) else tile, (x, y))
        if labels:
            draw.text((x + 2, y + side), labels[i][: side // 6], fill=(200, 0, 0))
    return sheet


def contact_sheet(work: WorkDir, total: int, side_px: int) -> Image.Image | None:
    """A grid of up to 64 outputs spread evenly over the dataset."""
    if total == 0:
        return None
    count = min(total, SHEET_COUNT)
    wanted = {round(i * (total - 1) / max(1, count - 1)) for i in range(count)}
    tiles = [
        Image.open(io.BytesIO(data)).convert("RGB") for _, _, data in iter_samples(work, wanted)
    ]
    return _grid(tiles, side_px)


def write_report(report: Report, work: WorkDir, report_dir: Path, output: Path | None) -> None:
    """Write report.json, summary.txt, contact-sheet.png and rejects.png."""
    report_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_dict(output)
    (report_dir / "report.json").write_text(json.dumps(data, indent=1) + "\n")
    (report_dir / "summary.txt").write_text(summary_text(data, report_dir))
    side = min(report.cfg.resolution, 128)
    sheet = contact_sheet(work, report.images, side) if output is not None else None
    if sheet is not None:
        sheet.save(report_dir / "contact-sheet.png")
    if report.cfg.reject_sheet and report.thumbs:
        tiles = [
            Image.open(io.BytesIO(base64.b64decode(t))).convert("RGB") for t, _ in report.thumbs
        ]
        tiles = [Image.fromarray(_pad_square(np.asarray(t))) for t in tiles]
        _grid(tiles, 96, [label for _, label in report.thumbs]).save(report_dir / "rejects.png")


def _pad_square(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    side = max(height, width)
    out = np.full((side, side, 3), 255, dtype=np.uint8)
    out[
        (side - height) // 2 : (side - height) // 2 + height,
        (side - width) // 2 : (side - width) // 2 + width,
    ] = rgb
    return out
