"""`waifugan train-tagger` and `waifugan tag` as a user runs them (in-process main())."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from tests.cards.helpers import face, tiny_tagger
from tests.tiny import tiny_G
from waifugan.cli import main
from waifugan.networks.model_file import save_model
from waifugan.networks.tagger import load_tagger, save_tagger


def test_train_tagger_command(
    toy_dataset: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, meta = toy_dataset
    out = tmp_path / "out" / "toy.safetensors"
    argv = ["train-tagger", "--data", str(data), "--metadata", str(meta), "-o", str(out),
            "--resolution", "16", "--min-count", "5", "--epochs", "2", "--batch", "8",
            "--device", "cpu", "--threads", "1"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "precision" in printed and "red_hair" in printed and f"wrote {out}" in printed
    assert (tmp_path / "out" / "toy-report.txt").is_file()
    assert set(load_tagger(out).tagger.tags) == {"red_hair", "blonde_hair", "glasses"}


def test_train_tagger_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-tagger", "--data", str(tmp_path / "none.zip")]) == 2
    assert "none.zip: no such file or folder" in capsys.readouterr().err


def test_tag_a_model_with_the_tagger_beside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = save_model(tiny_G(16), tmp_path / "waifu.safetensors")
    assert main(["tag", str(model), "--seeds", "1-2"]) == 2
    assert "no tagger given" in capsys.readouterr().err
    save_tagger(tiny_tagger(), tmp_path / "waifu.tagger.safetensors")
    assert main(["tag", str(model), "--seeds", "1-2", "--json", "--device", "cpu"]) == 0
    cards = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [c["seed"] for c in cards] == [1, 2]
    assert all(c["name"] and c["story"].startswith(c["name"]) for c in cards)
    assert main(["tag", str(model), "--seeds", "1", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"seed 1 psi 0.70: {cards[0]['name']}") and "tags:" in text


def test_tag_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tagger = save_tagger(tiny_tagger(), tmp_path / "t.safetensors")
    folder = tmp_path / "faces"
    folder.mkdir()
    Image.fromarray(face(True, True, 48)).save(folder / "a.png")
    Image.fromarray(face(False, False, 32)[:, :20]).save(folder / "b.png")  # not square
    (folder / "c.png").write_bytes(b"not an image")
    code = main(["tag", str(folder), "--tagger", str(tagger), "--threshold", "0.01", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 1  # one file could not be read
    assert [Path(r["image"]).name for r in rows] == ["a.png", "b.png", "c.png"]
    assert rows[0]["tags"] and rows[1]["tags"] and rows[2]["error"]
    assert all(0.01 <= t["confidence"] <= 1 for t in rows[0]["tags"])
