"""The StyleGAN1 generator: the shared generator interface, truncation default, up-sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from waifugan.networks.model_file import load_model
from waifugan.networks.sampling import seeds_to_z, to_uint8
from waifugan.networks.stylegan1 import (
    StyleGAN1Config,
    StyleGAN1Generator,
    blur2d,
    fused_up_weight,
)


def tiny(resolution: int = 16, **kw) -> StyleGAN1Generator:
    torch.manual_seed(0)
    cfg = StyleGAN1Config(img_resolution=resolution, z_dim=16, w_dim=16, map_depth=2,
                          channel_base=256, channel_max=16, **kw)  # fmt: skip
    G = StyleGAN1Generator(cfg).eval()
    with torch.no_grad():
        G.mapping.w_avg.copy_(torch.randn(G.w_dim))
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
    return G


@pytest.mark.parametrize("resolution", [8, 16, 64])
def test_interface_and_shapes(resolution):
    G = tiny(resolution)
    assert G.num_ws == 2 * int(np.log2(resolution)) - 2
    ws = G.mapping(torch.randn(3, G.z_dim), psi=0.7)
    assert ws.shape == (3, G.num_ws, G.w_dim)
    img = G.synthesis(ws, noise_mode="const")
    assert img.shape == (3, 3, resolution, resolution) and img.dtype == torch.float32
    pixels = G.sample([0, 1], psi=0.7)
    assert pixels.shape == (2, resolution, resolution, 3) and pixels.dtype == np.uint8
    assert torch.equal(G(seeds_to_z([0, 1], G.z_dim), 0.7), G.synthesis(G.mapping(
        seeds_to_z([0, 1], G.z_dim), 0.7)))  # fmt: skip


def test_default_cutoff_truncates_only_the_first_layers():
    G = tiny(64)  # 10 ws; the default cutoff is 8
    z = seeds_to_z([3], G.z_dim)
    plain, truncated = G.mapping(z), G.mapping(z, psi=0.0)
    assert torch.allclose(truncated[:, :8], G.mapping.w_avg.expand(1, 8, -1))
    assert torch.equal(truncated[:, 8:], plain[:, 8:])
    everywhere = G.mapping(z, psi=0.0, truncation_cutoff=G.num_ws)
    assert torch.allclose(everywhere, G.mapping.w_avg.expand_as(everywhere))
    assert tiny(64, truncation_cutoff=None).mapping.default_cutoff is None


def test_noise_modes():
    G = tiny()
    z = seeds_to_z([1, 1], G.z_dim)
    const = G(z, noise_mode="const")
    assert torch.equal(const[0], const[1]) and torch.equal(const, G(z, noise_mode="const"))
    rand = G(z, noise_mode="random")
    assert not torch.allclose(rand[0], rand[1])
    assert not torch.allclose(G(z, noise_mode="none"), const)
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="sometimes")


def test_fused_up_conv_is_nearest_upsampling_then_the_kernel_rotated_180_degrees():
    """TF's fused kernel (3x3 padded, four shifts summed, used by conv2d_transpose unflipped)
    equals nearest ×2 followed by a true convolution: the 3x3 kernel rotated by 180°, unlike
    the unfused path. Trained weights expect exactly this."""
    torch.manual_seed(1)
    x, w = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3)
    fused = F.conv_transpose2d(x, fused_up_weight(w), stride=2, padding=1)
    nearest = F.interpolate(x, scale_factor=2.0, mode="nearest")
    assert fused.shape == (2, 4, 12, 12)
    torch.testing.assert_close(fused, F.conv2d(nearest, w.flip(2, 3), padding=1))
    assert not torch.allclose(fused, F.conv2d(nearest, w, padding=1), atol=1e-3)


def test_blur_keeps_constants_inside_and_sums_to_one():
    x = torch.full((1, 2, 5, 5), 3.0)
    y = blur2d(x)
    torch.testing.assert_close(y[..., 1:-1, 1:-1], x[..., 1:-1, 1:-1])
    assert y.sum() < x.sum()  # zero padding at the border, as TF's SAME depthwise conv


def test_fused_threshold_picks_the_layers():
    G = tiny(32, fused_up_res=16)
    ups = {res: getattr(G.synthesis, f"b{res}").conv0.up for res in (8, 16, 32)}
    assert ups == {8: "nearest", 16: "fused", 32: "fused"}
    assert {getattr(tiny(32, fused_up_res=None).synthesis, f"b{r}").conv0.up
            for r in (8, 16, 32)} == {"nearest"}  # fmt: skip


def test_model_file_round_trip_same_pixels(tmp_path):
    G = tiny(16)
    path = G.save_pretrained(tmp_path / "sg1.safetensors")
    loaded = load_model(path).eval()
    assert isinstance(loaded, StyleGAN1Generator) and loaded.cfg == G.cfg
    np.testing.assert_array_equal(loaded.sample([0, 1, 2]), G.sample([0, 1, 2]))
    assert isinstance(StyleGAN1Generator.from_pretrained(path), StyleGAN1Generator)


def test_projection_helpers_see_the_noise_buffers():
    from waifugan.generate.projection import noise_buffers

    G = tiny(16)
    names = sorted(noise_buffers(G))
    assert len(names) == G.num_ws and all(n.endswith("noise_const") for n in names)
    img = to_uint8(G.synthesis(G.mapping.w_avg.expand(1, G.num_ws, -1)))
    assert img.shape == (1, 16, 16, 3)
