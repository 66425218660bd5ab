"""Preset sanity on a tiny budget: a collapsing preset fails here, not in a user's afternoon.

The CPU preset used to collapse (every seed drew the same brown ring, issue 13). After a few
hundred steps on a small set of real faces, G_ema's samples for different seeds must differ
about as much as different real faces do: mean pairwise pixel distance above a share of the
real images' own.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import waifugan
from tests.train.conftest import run_train

SIZE, COUNT = 32, 256
SHARE = 0.4  # of the real faces' mean pairwise distance; a collapsed G sits far below


def mean_pairwise_distance(images: np.ndarray) -> float:
    """Mean absolute pixel difference over all pairs of uint8 [N, H, W, 3] images."""
    x = images.reshape(len(images), -1).astype(np.float32)
    d = [np.abs(x[i] - x[j]).mean() for i in range(len(x)) for j in range(i)]
    return float(np.mean(d))


@pytest.fixture(scope="module")
def faces32(shared_dir: Path, tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The first COUNT adventurer faces at 32 px, as a dataset zip and as pixels."""
    source = shared_dir / "data" / "adventurer-train-128.zip"
    if not source.is_file():
        pytest.skip(f"{source} not found")
    path = tmp_path_factory.mktemp("faces") / "faces32.zip"
    pixels = []
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(path, "w") as dst:
        names = sorted(n for n in src.namelist() if n.endswith(".png"))[:COUNT]
        for i, name in enumerate(names):
            image = Image.open(io.BytesIO(src.read(name))).convert("RGB")
            image = image.resize((SIZE, SIZE), Image.Resampling.LANCZOS)
            pixels.append(np.asarray(image))
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            dst.writestr(f"00000/img{i:08d}.png", buf.getvalue())
    return path, np.stack(pixels)


@pytest.mark.slow
def test_the_cpu_preset_does_not_collapse_in_a_few_hundred_steps(faces32, tmp_path):
    data, reals = faces32
    flags = dict(data=str(data), outdir=str(tmp_path), preset="cpu32", kimg=3.2, tick_kimg=1.6,
                 snap=2, mirror=True, workers=0, device="cpu", seed=0)  # fmt: skip
    run_dir = run_train(flags)  # 200 steps of the preset's own dynamics
    fakes = waifugan.load(run_dir).sample(list(range(16)), psi=1.0)
    fake_spread = mean_pairwise_distance(fakes)
    real_spread = mean_pairwise_distance(reals[:16])
    print(f"pairwise distance: fakes {fake_spread:.1f}, reals {real_spread:.1f}")
    assert fake_spread > SHARE * real_spread, (fake_spread, real_spread)
    # The detector does fire on a collapsed generator: at ψ = 0 every seed is the mean face.
    collapsed = waifugan.load(run_dir).sample(list(range(16)), psi=0.0)
    assert mean_pairwise_distance(collapsed) < SHARE * real_spread
