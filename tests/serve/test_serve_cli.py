"""`waifugan serve` as a user runs it: a subprocess bound to localhost, talked to over HTTP."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from serve_helpers import serve_command

from waifugan.networks.generator import Generator
from waifugan.networks.model_file import save_model


def test_serve_command_end_to_end(tiny_G: Generator, tmp_path: Path) -> None:
    model = save_model(tiny_G, tmp_path / "tiny.safetensors")
    with serve_command(str(model), "--device", "cpu", "--interval", "3") as served:
        assert served.health.status_code == 200
        face = httpx.get(served.base + "/api/face?seed=3&psi=0.7", timeout=20)
        assert face.status_code == 200 and face.content[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = np.asarray(Image.open(io.BytesIO(face.content)).convert("RGB"))
        assert np.array_equal(pixels, tiny_G.sample([3], psi=0.7)[0])
        page = httpx.get(served.base + "/", timeout=20)
        assert 'data-interval-s="3"' in page.text
    assert f"{served.base}/" in served.output  # bound to localhost by default


def test_serve_command_bad_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "waifugan", "serve", str(tmp_path / "missing.safetensors")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "missing.safetensors" in result.stderr and "Traceback" not in result.stderr
