"""The tagger network: shapes, resizing, and its .safetensors file (round trip, bad files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from waifugan.errors import WaifuganError
from waifugan.networks.tagger import (
    Tagger,
    TaggerConfig,
    load_tagger,
    save_tagger,
    to_tagger_input,
)

TAGS = ("long_hair", "glasses", "blush")


def _tagger(resolution: int = 16) -> Tagger:
    torch.manual_seed(0)
    return Tagger(TaggerConfig(tags=TAGS, img_resolution=resolution, channel_base=4)).eval()


def test_shapes_and_any_input_size() -> None:
    tagger = _tagger(16)
    assert tagger(torch.zeros(2, 3, 16, 16)).shape == (2, 3)
    images = np.random.RandomState(0).randint(0, 256, (5, 40, 40, 3), dtype=np.uint8)
    probs = tagger.predict(images, batch_size=2)  # 40 px faces are resized to 16
    assert probs.shape == (5, 3) and probs.dtype == np.float32
    assert np.all((probs > 0) & (probs < 1))
    assert tagger.predict(images[:0]).shape == (0, 3)


def test_input_scaling_and_resizing() -> None:
    white = torch.full((1, 3, 8, 8), 255, dtype=torch.uint8)
    assert torch.equal(to_tagger_input(white, 8), torch.ones(1, 3, 8, 8))
    checker = torch.zeros(1, 3, 4, 4, dtype=torch.uint8)
    checker[..., ::2, ::2] = 255
    checker[..., 1::2, 1::2] = 255
    assert torch.allclose(to_tagger_input(checker, 2), torch.zeros(1, 3, 2, 2), atol=1e-6)
    assert to_tagger_input(checker, 16).shape == (1, 3, 16, 16)


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="power of two"):
        TaggerConfig(tags=TAGS, img_resolution=24)
    with pytest.raises(ValueError, match="at least one tag"):
        TaggerConfig(tags=())
    with pytest.raises(ValueError, match="unique"):
        TaggerConfig(tags=("a", "a"))


def test_save_load_round_trip(tmp_path: Path) -> None:
    tagger = _tagger()
    with torch.no_grad():  # non-default BatchNorm statistics must survive the trip
        for module in tagger.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    path = save_tagger(tagger, tmp_path / "t.safetensors", extra={"note": "hi"})
    loaded = load_tagger(path)
    assert loaded.tagger.cfg == tagger.cfg and loaded.extra == {"note": "hi"}
    images = np.random.RandomState(1).randint(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    assert np.array_equal(loaded.tagger.predict(images), tagger.predict(images))
    assert not any(p.requires_grad for p in loaded.tagger.parameters())
    assert not list(tmp_path.glob(".*tmp"))  # written atomically


def test_bad_files_are_refused_with_their_name(tmp_path: Path) -> None:
    with pytest.raises(WaifuganError, match="missing.safetensors: no such tagger file"):
        load_tagger(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(WaifuganError, match="junk.safetensors: not a readable"):
        load_tagger(junk)
    from safetensors.torch import save_file

    other = tmp_path / "generator.safetensors"
    save_file({"w": torch.zeros(1)}, str(other), metadata={"format": "waifugan-generator"})
    with pytest.raises(WaifuganError, match="generator.safetensors: not a waifugan tagger"):
        load_tagger(other)
    tagger = _tagger()
    path = save_tagger(tagger, tmp_path / "t.safetensors")
    bigger = Tagger(TaggerConfig(tags=(*TAGS, "smile"), img_resolution=16, channel_base=4))
    state = {k: v.contiguous() for k, v in bigger.state_dict().items()}
    save_file(state, str(path), metadata={"format": "waifugan-tagger", "config": _cfg_json()})
    with pytest.raises(WaifuganError, match="t.safetensors: tagger config and weights disagree"):
        load_tagger(path)


def _cfg_json() -> str:
    import json

    return json.dumps(TaggerConfig(tags=TAGS, img_resolution=16, channel_base=4).to_dict())
