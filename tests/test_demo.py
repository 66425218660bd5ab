"""`waifugan demo`: the bundled model shown off, then fine-tuned on the built-in glasses faces."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from waifugan.cli import main


@pytest.mark.slow
def test_demo_writes_every_output_and_fine_tunes_from_the_bundled_model(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--outdir", str(out), "--kimg", "0.016", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    for name in ("grid.png", "walk.mp4", "mix.png", "glasses.zip", "before-after.png"):
        assert (out / name).is_file(), name
        assert str(out / name) in printed
    assert "waifugan serve" in printed and "CC BY 4.0" in printed
    assert Image.open(out / "grid.png").size == (8 * 64, 4 * 64)
    with zipfile.ZipFile(out / "glasses.zip") as zf:  # prepare --tags glasses kept 400 of 600
        assert sum(n.endswith(".png") for n in zf.namelist()) == 400
    run_dir = next((out / "runs").iterdir())
    started = json.loads((run_dir / "options.json").read_text())["started_from"]
    assert started["kind"] == "model" and started["parameters"]["D"]["fresh"] is False
    before_after = np.asarray(Image.open(out / "before-after.png"))
    assert before_after.shape == (2 * 64, 8 * 64, 3)
