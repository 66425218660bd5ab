import numpy as np
import pytest
import torch

from tests.tiny import tiny_D, tiny_G
from waifugan.networks.generator import mix_ws
from waifugan.networks.sampling import seeds_to_z


@pytest.mark.parametrize("resolution", [16, 32, 64])
def test_generator_and_discriminator_shapes(resolution):
    G, D = tiny_G(resolution), tiny_D(resolution)
    z = torch.randn(4, G.z_dim)
    ws = G.mapping(z)
    assert ws.shape == (4, G.num_ws, G.w_dim)
    assert G.num_ws == 2 * int(np.log2(resolution)) - 2
    img = G.synthesis(ws)
    assert img.shape == (4, 3, resolution, resolution) and img.dtype == torch.float32
    logits = D(img)
    assert logits.shape == (4, 1) and logits.dtype == torch.float32
    pixels = G.sample([0, 1, 2], psi=0.7)
    assert pixels.shape == (3, resolution, resolution, 3) and pixels.dtype == np.uint8


def test_psi_zero_gives_the_w_avg_image_for_every_seed():
    G = tiny_G()
    images = G.sample([0, 1, 2, 3], psi=0.0)
    ws_avg = G.mapping.w_avg.reshape(1, 1, -1).repeat(1, G.num_ws, 1)
    expected = G.synthesis(ws_avg)
    from waifugan.networks.sampling import to_uint8

    for image in images:
        np.testing.assert_array_equal(image, to_uint8(expected)[0])


def test_psi_one_leaves_w_unchanged_and_cutoff_limits_truncation():
    G = tiny_G()
    z = seeds_to_z([5, 6], G.z_dim)
    ws = G.mapping(z, psi=1.0)
    assert not torch.allclose(ws, G.mapping.w_avg.expand_as(ws))
    truncated = G.mapping(z, psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(truncated[:, :3], G.mapping.w_avg.lerp(ws[:, :3], 0.5))
    torch.testing.assert_close(truncated[:, 3:], ws[:, 3:])


def test_style_mixing_switches_latents_at_the_crossover_layer():
    G = tiny_G()
    ws_a = G.mapping(torch.randn(2, G.z_dim))
    ws_b = G.mapping(torch.randn(2, G.z_dim))
    for cutoff in range(G.num_ws + 1):
        mixed = mix_ws(ws_a, ws_b, cutoff)
        torch.testing.assert_close(mixed[:, :cutoff], ws_a[:, :cutoff])
        torch.testing.assert_close(mixed[:, cutoff:], ws_b[:, cutoff:])


def test_noise_modes():
    G = tiny_G()
    for layer in G.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)
    ws = G.mapping(torch.randn(2, G.z_dim))
    torch.testing.assert_close(G.synthesis(ws, "const"), G.synthesis(ws, "const"), rtol=0, atol=0)
    assert not torch.allclose(G.synthesis(ws, "random"), G.synthesis(ws, "random"))
    assert not torch.allclose(G.synthesis(ws, "none"), G.synthesis(ws, "const"))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, "bogus")


def test_seeds_follow_the_nvlabs_convention():
    z = seeds_to_z([0, 42], 8)
    np.testing.assert_allclose(z[1].numpy(), np.random.RandomState(42).randn(8).astype(np.float32))


def test_parameter_names_are_resolution_indexed():
    names = set(tiny_G(32).state_dict())
    assert "synthesis.b32.conv1.affine.weight" in names
    assert "synthesis.b4.const" in names and "mapping.fc1.weight" in names
    assert "mapping.w_avg" in names and "synthesis.b32.torgb.weight" in names
    assert "b32.fromrgb.weight" in set(tiny_D(32).state_dict())
