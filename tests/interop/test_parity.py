"""Imported generators draw the source's images: max pixel difference ≤ 2/255, noise const.

The source's images come from NumPy forward passes that read the TensorFlow variables
(tests/interop/numpy_reference.py); the NVlabs and rosinality files hold the same networks
through those tools' documented transforms.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.interop import numpy_reference as ref
from tests.interop.foreign import assert_no_foreign_modules
from tests.interop.tf_builders import write_stylegan1
from waifugan.interop import import_model
from waifugan.networks.generator import Generator
from waifugan.networks.sampling import seeds_to_z
from waifugan.networks.stylegan1 import StyleGAN1Generator

SEEDS = [0, 1, 7, 42]
MAX_DIFF = 2  # of 255


def _z(seeds: list[int], z_dim: int) -> np.ndarray:
    return seeds_to_z(seeds, z_dim).double().numpy()  # RandomState(seed).randn(z_dim)


def _assert_close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape and got.dtype == np.uint8
    assert want.std() > 20, "reference images are flat: the test would prove little"
    diff = np.abs(got.astype(int) - want.astype(int)).max()
    assert diff <= MAX_DIFF, f"max pixel difference {diff}"


@pytest.mark.parametrize("fmt", ["tf-stylegan2", "nvlabs-pytorch", "rosinality"])
@pytest.mark.parametrize("psi", [1.0, 0.5])
def test_stylegan2_formats_reproduce_the_source_images(stylegan2_files, tf2_nets, marker, fmt, psi):
    model = import_model(stylegan2_files[fmt])
    assert model.format == fmt
    G = model.G_ema
    assert isinstance(G, Generator) and not G.training
    want = ref.sg2_images(tf2_nets["Gs"], _z(SEEDS, G.z_dim), psi)
    _assert_close(G.sample(SEEDS, psi=psi, noise_mode="const"), want)
    assert not marker.exists()
    assert_no_foreign_modules()


def test_training_generators_are_imported_too(stylegan2_files, tf2_nets):
    for fmt in ("tf-stylegan2", "nvlabs-pytorch", "rosinality"):
        G = import_model(stylegan2_files[fmt], what="G").G
        assert G is not None
        want = ref.sg2_images(tf2_nets["G"], _z([3], G.z_dim), psi=1.0)
        _assert_close(G.sample([3], psi=1.0), want)


def test_the_three_stylegan2_formats_give_the_same_discriminator(stylegan2_files):
    Ds = [import_model(path, what="D").D for path in stylegan2_files.values()]
    states = [D.state_dict() for D in Ds]
    for state in states[1:]:
        assert state.keys() == states[0].keys()
        for name, tensor in state.items():
            torch.testing.assert_close(tensor, states[0][name], rtol=0, atol=0, msg=name)
    img = torch.rand(4, 3, 16, 16) * 2 - 1
    assert torch.isfinite(Ds[0](img)).all()


@pytest.mark.parametrize("psi", [1.0, 0.7, 0.3])
def test_stylegan1_reproduces_the_tensorflow_images(tf1_file, marker, psi):
    path, variables = tf1_file
    model = import_model(path)
    G = model.G_ema
    assert isinstance(G, StyleGAN1Generator) and model.format == "tf-stylegan1"
    assert (model.psi, model.truncation_cutoff) == (0.7, 8)
    want = ref.sg1_images(variables, _z(SEEDS, G.z_dim), psi, cutoff=8)
    _assert_close(G.sample(SEEDS, psi=psi), want)
    assert not marker.exists()
    assert_no_foreign_modules()


def test_stylegan1_default_cutoff_truncates_only_the_first_8_ws(tmp_path, marker):
    variables = write_stylegan1(tmp_path / "g64.pkl", marker, resolution=64, fmap_max=8)
    G = import_model(tmp_path / "g64.pkl").G_ema
    assert G.num_ws == 10
    z = _z(SEEDS[:2], G.z_dim)
    _assert_close(G.sample(SEEDS[:2], psi=0.5), ref.sg1_images(variables, z, 0.5, cutoff=8))
    everywhere = G.sample(SEEDS[:2], psi=0.5, truncation_cutoff=10)
    _assert_close(everywhere, ref.sg1_images(variables, z, 0.5, cutoff=None))
    assert np.abs(everywhere.astype(int) - G.sample(SEEDS[:2], psi=0.5).astype(int)).max() > 2


def test_stylegan1_fused_up_sampling_from_16px_when_the_file_says_so(tmp_path, marker):
    variables = write_stylegan1(tmp_path / "fused.pkl", marker, resolution=16, fused_scale=True)
    G = import_model(tmp_path / "fused.pkl").G_ema
    assert G.cfg.fused_up_res == 8
    want = ref.sg1_images(variables, _z(SEEDS, G.z_dim), 0.7, fused_from=8)
    _assert_close(G.sample(SEEDS, psi=0.7), want)
    nearest = ref.sg1_images(variables, _z(SEEDS, G.z_dim), 0.7, fused_from=10**6)
    assert np.abs(nearest.astype(int) - want.astype(int)).max() > 2  # the paths really differ


@pytest.mark.slow
def test_stylegan1_fused_path_at_128px_the_real_threshold(tmp_path, marker):
    """TF's 'auto' fuses from 128 px; tiny channels keep the NumPy reference fast."""
    variables = write_stylegan1(tmp_path / "g128.pkl", marker, resolution=128, fmap_max=8)
    G = import_model(tmp_path / "g128.pkl").G_ema
    assert G.cfg.fused_up_res == 128 and G.synthesis.b128.conv0.up == "fused"
    assert G.synthesis.b64.conv0.up == "nearest"
    want = ref.sg1_images(variables, _z(SEEDS[:2], G.z_dim), 0.7, fused_from=128)
    _assert_close(G.sample(SEEDS[:2], psi=0.7), want)
