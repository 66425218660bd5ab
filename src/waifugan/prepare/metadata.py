"""Danbooru metadata (JSON lines): select images by tags, rating and score; find their files."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from waifugan.errors import WaifuganError
from waifugan.prepare.sources import Item, Reject, iter_sources

LAYOUT_FOLDERS = ("original", "512px")  # Danbooru2018+ mirror: {original,512px}/NNNN/ID.ext


@dataclass(frozen=True)
class Selection:
    """Which Danbooru records to use."""

    tags: frozenset[str] = frozenset()  # all required
    exclude_tags: frozenset[str] = frozenset()  # none allowed
    ratings: frozenset[str] = frozenset()  # empty: any
    min_score: int | None = None


def parse_record(obj: Any) -> dict[str, Any]:
    """Normalise one metadata object (tags as [{name, category}] or `tag_string`); raises
    ValueError naming the problem."""
    if not isinstance(obj, dict):
        raise ValueError("not a JSON object")
    if "id" not in obj:
        raise ValueError("no 'id' field")
    if isinstance(obj.get("tags"), list):
        tags = [t["name"] if isinstance(t, dict) else str(t) for t in obj["tags"]]
    elif isinstance(obj.get("tag_string"), str):
        tags = obj["tag_string"].split()
    else:
        tags = []
    score = obj.get("score")
    return {
        "id": str(obj["id"]),
        "tags": tags,
        "rating": str(obj.get("rating", "")),
        "score": None if score is None else int(score),
        "file_ext": str(obj.get("file_ext", "")).lstrip("."),
        "md5": obj.get("md5"),
    }


def selected(record: dict[str, Any], sel: Selection) -> bool:
    """Whether a parsed record passes the tag/rating/score selection."""
    tags = set(record["tags"])
    if not sel.tags <= tags or sel.exclude_tags & tags:
        return False
    if sel.ratings and record["rating"] not in sel.ratings:
        return False
    return sel.min_score is None or (
        record["score"] is not None and record["score"] >= sel.min_score
    )


def _open_texts(name: str) -> Iterator[tuple[str, IO[str]]]:
    """The JSON-lines text streams of a metadata argument: the file, or every *.jsonl
    member of a zip (datasets often ship their metadata inside the archive)."""
    try:
        if name.lower().endswith(".zip"):
            with zipfile.ZipFile(name) as archive:
                for member in sorted(archive.namelist()):
                    if member.endswith(".jsonl"):
                        with archive.open(member) as raw:
                            yield (
                                f"{name}::{member}",
                                io.TextIOWrapper(raw, encoding="utf-8", errors="replace"),
                            )
            return
        with open(name, encoding="utf-8", errors="replace") as handle:
            yield name, handle
    except (OSError, zipfile.BadZipFile) as error:
        raise WaifuganError(f"{name}: cannot read metadata ({error})") from None


def iter_metadata(files: tuple[str, ...], sel: Selection) -> Iterator[dict[str, Any] | Reject]:
    """Selected records of JSON-lines files, streamed line by line (bounded memory); a
    malformed line becomes a Reject naming file and line."""
    for name in files:
        for label, handle in _open_texts(name):
            for line_no, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = parse_record(orjson.loads(line))
                except (ValueError, KeyError, TypeError) as error:
                    yield Reject(f"{label}:{line_no}", "metadata", f"malformed line: {error}")
                    continue
                if selected(record, sel):
                    yield record


def _is_layout_root(path: Path) -> bool:
    return path.is_dir() and any((path / sub).is_dir() for sub in LAYOUT_FOLDERS)


def layout_path(root: Path, record: dict[str, Any]) -> Path | None:
    """The file of a record in a Danbooru layout: original/NNNN/ID.ext, else 512px/NNNN/ID.jpg
    (NNNN = id mod 1000, zero-padded)."""
    ident = record["id"]
    bucket = f"{int(ident) % 1000:04d}" if ident.isdigit() else None
    if bucket is None:
        return None
    candidates = []
    if record["file_ext"]:
        candidates.append(root / "original" / bucket / f"{ident}.{record['file_ext']}")
    candidates.append(root / "512px" / bucket / f"{ident}.jpg")
    return next((c for c in candidates if c.is_file()), None)


def iter_selected_items(
    sources: tuple[str, ...], files: tuple[str, ...], sel: Selection
) -> Iterator[Item | Reject]:
    """Items of the selected records: looked up directly in Danbooru layouts, else matched
    by file stem (= id) in the other sources. Records with no file become Rejects."""
    roots = [Path(s) for s in sources if _is_layout_root(Path(s))]
    others = tuple(s for s in sources if not _is_layout_root(Path(s)))
    pending: dict[str, dict[str, Any]] = {}  # selected, not yet located (ids only: small)
    for entry in iter_metadata(files, sel):
        if isinstance(entry, Reject):
            yield entry
            continue
        path = next((p for p in (layout_path(r, entry) for r in roots) if p), None)
        if path is not None:
            yield Item(key=str(path), path=str(path), meta=entry)
        elif others:
            pending.setdefault(entry["id"], entry)
        else:
            yield Reject(f"id {entry['id']}", "sources", "selected in metadata but no file found")
    if not pending:
        return
    for item in iter_sources(others):
        record = pending.pop(item.stem, None)
        if record is not None:
            yield Item(item.key, item.path, item.member, meta=record)
    for ident in pending:
        yield Reject(f"id {ident}", "sources", "selected in metadata but no file found")
