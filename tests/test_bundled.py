"""The model in the box: it loads, draws deterministic faces, its card matches it, and the
commands that draw faces use it when no MODEL is given."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

import waifugan
from waifugan.bundled import CREDIT, bundled_card_path, bundled_model_path
from waifugan.cli import build_parser, main
from waifugan.networks.model_file import discriminator_path, load_discriminator
from waifugan.networks.tensor_file import read_tensor_file


def test_the_bundled_model_loads_and_draws_deterministic_faces():
    G = waifugan.load()
    assert G.img_resolution == 64
    a = G.sample([0, 1, 2, 3], psi=0.7)
    b = waifugan.load(bundled_model_path()).sample([0, 1, 2, 3], psi=0.7)
    assert a.shape == (4, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    # Different seeds draw different faces (the collapse the CPU preset used to show).
    pairwise = [np.abs(a[i].astype(int) - a[j]).mean() for i in range(4) for j in range(i)]
    assert min(pairwise) > 5, pairwise


def test_the_card_matches_the_model_and_credits_the_data():
    card = bundled_card_path().read_text()
    assert CREDIT in card and "CC BY 4.0" in card
    config = json.loads(re.search(r"## Generator config\s+```json\n(.*?)```", card, re.S)[1])
    G = waifugan.load()
    assert config == {"architecture": "stylegan2", **G.cfg.to_dict()} or config == G.cfg.to_dict()
    _, metadata = read_tensor_file(bundled_model_path())
    kimg = json.loads(metadata["extra"])["kimg"]
    assert f"{kimg:.1f} kimg" in card
    options = json.loads(re.search(r"## Training options\s+```json\n(.*?)```", card, re.S)[1])
    assert options["G"] == G.cfg.to_dict()
    assert f"--preset {options['preset']}" in card


def test_d_and_tagger_lie_beside_the_model():
    D = load_discriminator(discriminator_path(bundled_model_path()))
    assert D.img_resolution == 64
    tagger = bundled_model_path().with_name("adventurer64.tagger.safetensors")
    assert tagger.is_file()


@pytest.mark.parametrize(
    "argv",
    [
        ["generate"],
        ["interpolate", "--seeds", "1,2"],
        ["mix", "--rows", "1", "--cols", "2"],
        ["project", "face.png"],
        ["serve"],
    ],
)
def test_face_commands_default_to_the_bundled_model(argv):
    args = build_parser().parse_args(argv)
    assert args.model == str(bundled_model_path())
    if argv[0] == "project":
        assert args.target == "face.png"


def test_generate_without_a_model_writes_the_bundled_faces(tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--seeds", "0-3", "--outdir", str(out), "--device", "cpu"]) == 0
    expected = waifugan.load().sample([0, 1, 2, 3], psi=0.7)
    for i in range(4):
        np.testing.assert_array_equal(np.asarray(Image.open(out / f"seed{i:04d}.png")), expected[i])
