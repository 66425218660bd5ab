"""A model file with its D beside it (MODEL.D.safetensors): fine-tuning starts from both."""

from __future__ import annotations

import json

import pytest
import torch

from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.model_file import (
    build_generator,
    discriminator_path,
    load_discriminator,
    save_discriminator,
    save_model,
)
from waifugan.train.checkpoint import load_checkpoint


def test_a_discriminator_file_round_trips_and_bad_files_are_named(tmp_path):
    D = Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=8))
    path = save_discriminator(D, tmp_path / "m.D.safetensors", extra={"kimg": 1})
    loaded = load_discriminator(path)
    for name, tensor in D.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert discriminator_path(tmp_path / "m.safetensors") == path
    (tmp_path / "bad.D.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WaifuganError, match="bad.D.safetensors"):
        load_discriminator(tmp_path / "bad.D.safetensors")


def test_init_from_a_model_with_its_d_starts_both_from_the_files(blob_zip, tmp_path):
    source = run_train(tiny_flags(blob_zip, tmp_path / "src", kimg=0.016, aug="none"))
    state = load_checkpoint(sorted(source.glob("checkpoint-*.pt"))[-1])
    G_ema = build_generator(state["options"]["G"], state["G_ema"], "source")
    model = save_model(G_ema, tmp_path / "model.safetensors")
    D = Discriminator(DiscriminatorConfig(**state["options"]["D"]))  # the source run's D
    D.load_state_dict(state["D"])
    save_discriminator(D, discriminator_path(model))

    flags = tiny_flags(blob_zip, tmp_path / "runs", kimg=0.008, init=str(model), gamma=0)
    flags.update(glr=1e-12, dlr=1e-12)  # one tiny step: D stays (almost exactly) the source's
    run_dir = run_train(flags)
    started = json.loads((run_dir / "options.json").read_text())["started_from"]
    assert started["parameters"]["D"]["fresh"] is False
    assert started["parameters"]["D"]["new"] == []
    tuned = load_checkpoint(sorted(run_dir.glob("checkpoint-*.pt"))[-1])
    for name, tensor in state["D"].items():
        torch.testing.assert_close(tuned["D"][name], tensor, rtol=0, atol=1e-6, msg=name)
