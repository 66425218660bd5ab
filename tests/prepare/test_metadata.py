"""Danbooru metadata: selection by tags, rating and score; files found from the layout."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from tests.prepare.fixtures import art, png_bytes
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.metadata import Selection, iter_metadata, iter_selected_items
from waifugan.prepare.pipeline import iter_entries
from waifugan.prepare.sources import Item, Reject

RECORDS: list[Any] = [
    {"id": 1, "rating": "s", "score": 10, "file_ext": "png",
     "tags": [{"name": "red_hair", "category": 0}, {"name": "smile", "category": 0}]},
    {"id": 2, "rating": "q", "score": 50, "file_ext": "png", "tag_string": "red_hair smile"},
    {"id": 3, "rating": "s", "score": 3, "file_ext": "png", "tag_string": "red_hair"},
    {"id": 4, "rating": "s", "score": 99, "file_ext": "png", "tag_string": "red_hair smile hat"},
    {"id": 5, "rating": "e", "score": 99, "file_ext": "jpg", "tags": [{"name": "blue_hair"}]},
]  # fmt: skip


def _write_metadata(path: Path) -> Path:
    lines = [json.dumps(r) for r in RECORDS]
    lines.insert(2, '{"id": 6, "rating": "s", "tags": [broken json')
    lines.insert(4, '["not", "an", "object"]')
    path.write_text("\n".join(lines) + "\n")
    return path


def _ids(entries: list[Any]) -> list[str]:
    return [e["id"] for e in entries if isinstance(e, dict)]


def test_selection_forms_and_malformed_lines(tmp_path: Path) -> None:
    meta = (str(_write_metadata(tmp_path / "meta.jsonl")),)
    everything = list(iter_metadata(meta, Selection()))
    assert _ids(everything) == ["1", "2", "3", "4", "5"]
    rejects = [e for e in everything if isinstance(e, Reject)]
    assert [r.key for r in rejects] == [f"{meta[0]}:3", f"{meta[0]}:5"]
    assert all(r.reason.startswith("malformed line") for r in rejects)

    def select(**kw: Any) -> list[str]:
        return _ids(list(iter_metadata(meta, Selection(**kw))))

    both = frozenset({"red_hair", "smile"})
    assert select(tags=both) == ["1", "2", "4"]  # `tags` and `tag_string` forms alike
    assert select(tags=both, exclude_tags=frozenset({"hat"})) == ["1", "2"]
    assert select(ratings=frozenset({"s"})) == ["1", "3", "4"]
    assert select(ratings=frozenset({"s", "e"}), min_score=10) == ["1", "4", "5"]


def test_files_from_danbooru_layout_and_from_a_zip(tmp_path: Path) -> None:
    meta = (str(_write_metadata(tmp_path / "meta.jsonl")),)
    root = tmp_path / "danbooru"
    (root / "original" / "0001").mkdir(parents=True)
    (root / "original" / "0001" / "1.png").write_bytes(png_bytes(art(1)))
    (root / "512px" / "0002").mkdir(parents=True)
    (root / "512px" / "0002" / "2.jpg").write_bytes(png_bytes(art(2)))
    with zipfile.ZipFile(tmp_path / "more.zip", "w") as archive:
        archive.writestr("images/4.png", png_bytes(art(4)))
        archive.writestr("images/99.png", png_bytes(art(9)))  # not selected
    sources = (str(root), str(tmp_path / "more.zip"))
    sel = Selection(tags=frozenset({"red_hair", "smile"}))
    entries = list(iter_selected_items(sources, meta, sel))
    items = [e for e in entries if isinstance(e, Item)]
    assert [Path(i.member or i.path).name for i in items] == ["1.png", "2.jpg", "4.png"]
    assert items[2].meta is not None and items[2].meta["score"] == 99
    assert [e.key for e in entries if isinstance(e, Reject)] == [f"{meta[0]}:3", f"{meta[0]}:5"]
    missing = list(iter_selected_items(sources, meta, Selection(tags=frozenset({"red_hair"}))))
    assert any(isinstance(e, Reject) and e.key == "id 3" for e in missing)


def test_limit(tmp_path: Path) -> None:
    meta = str(_write_metadata(tmp_path / "meta.jsonl"))
    src = tmp_path / "flat"
    src.mkdir()
    for i in (1, 2, 3, 4, 5):
        (src / f"{i}.png").write_bytes(png_bytes(art(i)))
    cfg = PrepareConfig(sources=(str(src),), output=str(tmp_path / "o.zip"), metadata=(meta,),
                        limit=2, progress=False)  # fmt: skip
    items = [e for e in iter_entries(cfg) if isinstance(e, Item)]
    assert [i.stem for i in items] == ["1", "2"]


def test_metadata_inside_a_zip(tmp_path: Path) -> None:
    archive_path = tmp_path / "dataset.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        archive.writestr("metadata.jsonl", "\n".join(json.dumps(r) for r in RECORDS) + "\n")
        for i in (1, 2, 3):
            archive.writestr(f"{i}.png", png_bytes(art(i)))
    sel = Selection(tags=frozenset({"smile"}))
    entries = list(iter_selected_items((str(archive_path),), (str(archive_path),), sel))
    assert [e.stem for e in entries if isinstance(e, Item)] == ["1", "2"]
