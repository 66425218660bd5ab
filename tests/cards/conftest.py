"""Fixtures for the card tests: a tiny tagger and a tiny labelled dataset made in the test."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.cards.helpers import face, tiny_tagger
from waifugan.networks.tagger import Tagger


@pytest.fixture()
def tagger() -> Tagger:
    """A tiny 16 px tagger with random weights."""
    return tiny_tagger()


@pytest.fixture()
def toy_dataset(tmp_path: Path) -> tuple[Path, Path]:
    """A zip of 48 toy faces named like Danbooru ids with a metadata.jsonl beside it.

    Tags: red_hair / blonde_hair by hair colour, glasses on every third face, and a `rare`
    tag on two faces only (below any sensible --min-count)."""
    data, meta = tmp_path / "toy.zip", tmp_path / "meta.jsonl"
    lines = []
    with zipfile.ZipFile(data, "w") as archive:
        for i in range(48):
            red, glasses = i % 2 == 0, i % 3 == 0
            path = tmp_path / "face.png"
            Image.fromarray(face(red, glasses)).save(path)
            archive.write(path, f"{1000 + i}.png")
            tags = ["red_hair" if red else "blonde_hair"] + (["glasses"] if glasses else [])
            tags += ["rare"] if i < 2 else []
            lines.append(json.dumps({"id": 1000 + i, "tag_string": " ".join(tags)}))
    lines.append("{not json")  # a malformed line is skipped, not fatal
    meta.write_text("\n".join(lines) + "\n")
    return data, meta
