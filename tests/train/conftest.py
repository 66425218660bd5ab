"""A tiny 16 px dataset and tiny-network flags for fast training tests."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_blob_zip(path: Path, count: int = 32, size: int = 16, seed: int = 0) -> Path:
    """Zip of `count` smooth random colour-blob images (something a GAN can learn)."""
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(count):
            cx, cy, r = rng.rand(3) * [1, 1, 0.3] + [0, 0, 0.2]
            inside = ((xx - cx) ** 2 + (yy - cy) ** 2 < r**2)[..., None]
            image = np.where(inside, rng.randint(0, 256, 3), rng.randint(0, 256, 3))
            buf = io.BytesIO()
            Image.fromarray(image.astype(np.uint8)).save(buf, format="PNG")
            zf.writestr(f"{i // 1000:05d}/img{i:08d}.png", buf.getvalue())
        zf.writestr("dataset.json", '{"labels": null}')
    return path


@pytest.fixture(scope="session")
def blob_zip(tmp_path_factory) -> Path:
    return write_blob_zip(tmp_path_factory.mktemp("data") / "blobs.zip")


def tiny_flags(data: Path, outdir: Path, **overrides) -> dict:
    """Flags for a tiny 16 px run: 8 images per step, 4 steps per tick."""
    flags = dict(
        data=str(data), outdir=str(outdir), preset="cpu32", batch=8, kimg=0.064,
        tick_kimg=0.032, snap=1, cbase=256, cmax=16, z_dim=16, w_dim=16, map_depth=2,
        workers=0, device="cpu", seed=1, pl_weight=2.0, style_mixing=0.9,
    )  # fmt: skip
    flags.update(overrides)
    return flags


def run_train(flags: dict, resume: str | None = None, on_step=None) -> Path:
    """What `waifugan train` does with these flags, minus argparse: open the checkpoint to
    resume, resolve TrainOptions, build the metrics evaluator, train."""
    from waifugan.metrics.registry import snapshot_evaluator
    from waifugan.train.options import options_for_data
    from waifugan.train.run import open_resume, train

    state = open_resume(resume, flags.get("outdir") or "runs") if resume else None
    opts = options_for_data(flags, state.options if state else None)
    evaluate = snapshot_evaluator(opts.metrics, opts.data) if opts.metrics else None
    return train(opts, state, evaluate, on_step=on_step)
