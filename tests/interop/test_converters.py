"""Variants the converters cannot reproduce are refused by name; stray tensors are named."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from tests.interop.tf_builders import write_stylegan1
from waifugan.errors import WaifuganError
from waifugan.interop import nvlabs_pytorch, rosinality, tf_stylegan1
from waifugan.interop.common import channel_layout
from waifugan.interop.unpickle import PersistentObject, load_pickle, load_torch_file


def _module(obj: PersistentObject, path: str) -> PersistentObject:
    for name in path.split("."):
        obj = obj.state["_modules"][name]
    return obj


@pytest.fixture
def nvlabs_data(stylegan2_files):
    return load_pickle(stylegan2_files["nvlabs-pytorch"])


def test_nvlabs_missing_and_unexpected_tensors_are_all_named(nvlabs_data):
    G = copy.deepcopy(nvlabs_data["G_ema"])
    del _module(G, "synthesis.b4").state["_parameters"]["const"]
    del _module(G, "synthesis.b16.torgb").state["_parameters"]["bias"]
    _module(G, "synthesis.b8.conv1").state["_buffers"]["extra_thing"] = torch.zeros(3)
    with pytest.raises(WaifuganError) as error:
        nvlabs_pytorch.convert_generator(G, "snap.pkl")
    message = str(error.value)
    for name in (
        "synthesis.b4.const",
        "synthesis.b16.torgb.bias",
        "synthesis.b8.conv1.extra_thing",
    ):
        assert name in message


def test_nvlabs_stylegan3_is_refused_clearly(nvlabs_data):
    G = copy.deepcopy(nvlabs_data["G_ema"])
    synthesis = _module(G, "synthesis")
    synthesis.state["_modules"] = {"input": None, "L0_36_512": None}
    with pytest.raises(WaifuganError, match="StyleGAN3 .*no\\s+StyleGAN3 synthesis"):
        nvlabs_pytorch.convert_generator(G, "stylegan3-r.pkl")


@pytest.mark.parametrize(
    ("where", "key", "value", "message"),
    [
        ("", "c_dim", 10, "conditional"),
        ("synthesis_kwargs", "architecture", "resnet", "architecture='resnet'"),
        ("synthesis_kwargs", "resample_filter", [1, 2, 1], "resample_filter"),
    ],
)
def test_nvlabs_variants_are_refused(nvlabs_data, where, key, value, message):
    G = copy.deepcopy(nvlabs_data["G_ema"])
    kwargs = G.state["_init_kwargs"]
    (kwargs[where] if where else kwargs)[key] = value
    with pytest.raises(WaifuganError, match=message):
        nvlabs_pytorch.convert_generator(G, "snap.pkl")


def test_mapping_lr_multiplier_is_folded_into_the_weights(nvlabs_data):
    G0 = nvlabs_pytorch.convert_generator(nvlabs_data["G_ema"], "a")
    G = copy.deepcopy(nvlabs_data["G_ema"])
    G.state["_init_kwargs"]["mapping_kwargs"]["lr_multiplier"] = 0.02
    for i in range(2):
        params = _module(G, f"mapping.fc{i}").state["_parameters"]
        params["weight"] = params["weight"] / 2
        params["bias"] = params["bias"] / 2
    G2 = nvlabs_pytorch.convert_generator(G, "b")
    np.testing.assert_array_equal(G2.sample([0, 1]), G0.sample([0, 1]))


def test_stylegan1_progressive_snapshot_is_refused(tmp_path, marker):
    path = tmp_path / "growing.pkl"
    write_stylegan1(path, marker)
    data = load_pickle(path)
    for name, value in data[2].components["synthesis"].state["variables"]:
        if name == "lod":
            value[...] = 1.5
    with pytest.raises(WaifuganError, match="lod is 1.5: a progressive-growing snapshot"):
        tf_stylegan1.convert(data, str(path), "G_ema")


def test_stylegan1_variant_kwargs_are_refused(tmp_path, marker):
    path = tmp_path / "pixelnorm.pkl"
    write_stylegan1(path, marker, use_pixel_norm=True)
    with pytest.raises(WaifuganError, match="use_pixel_norm=True"):
        tf_stylegan1.convert(load_pickle(path), str(path), "G_ema")


def test_rosinality_unexpected_tensor_is_named(stylegan2_files):
    data = load_torch_file(stylegan2_files["rosinality"])
    state = dict(data["g_ema"])
    state["convs.0.conv.mystery"] = torch.zeros(2)
    with pytest.raises(WaifuganError, match="convs.0.conv.mystery"):
        rosinality.convert_generator(state, "ckpt.pt", data["latent_avg"])


def test_channel_layout_inference():
    assert channel_layout({4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128}, "x") == (
        16384,
        512,
    )
    assert channel_layout({4: 16, 8: 16}, "x") == (128, 16)
    with pytest.raises(WaifuganError, match="do not follow"):
        channel_layout({4: 512, 8: 256, 16: 512}, "x")
