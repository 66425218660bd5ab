"""`serve --trunc-cutoff`: faces truncated through the generator's own mapping."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from waifugan.cli import build_parser
from waifugan.errors import WaifuganError
from waifugan.networks.generator import Generator
from waifugan.serve.config import ServeConfig
from waifugan.serve.render import FaceKey, FaceRenderer


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


@pytest.mark.parametrize("cutoff", [None, 0, 2])
def test_served_faces_are_the_pixels_generate_saves(tiny_G: Generator, cutoff) -> None:
    renderer = FaceRenderer(tiny_G, max_batch=2, cache_size=0, truncation_cutoff=cutoff)
    try:
        faces = renderer.render([FaceKey(7, 0.5, 16), FaceKey(8, 0.0, 16)])
    finally:
        renderer.close()
    for face, (seed, psi) in zip(faces, ((7, 0.5), (8, 0.0)), strict=True):
        expected = tiny_G.sample([seed], psi=psi, truncation_cutoff=cutoff)[0]
        assert np.array_equal(_pixels(face.png), expected)
    if cutoff == 0:  # no layer truncated: ψ makes no difference
        untruncated = tiny_G.sample([8], psi=1.0)[0]
        assert np.array_equal(_pixels(faces[1].png), untruncated)


def test_trunc_cutoff_flag_reaches_the_config_and_is_checked() -> None:
    args = build_parser().parse_args(["serve", "m.safetensors", "--trunc-cutoff", "3"])
    assert args.trunc_cutoff == 3
    assert ServeConfig(truncation_cutoff=3).truncation_cutoff == 3
    with pytest.raises(WaifuganError, match="--trunc-cutoff -1"):
        ServeConfig(truncation_cutoff=-1)
