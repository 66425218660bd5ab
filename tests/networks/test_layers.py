import pytest
import torch

from waifugan.networks.generator import modulated_conv2d
from waifugan.networks.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    downsample2d,
    upsample2d,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_equalized_linear_keeps_unit_variance():
    layer = EqualizedLinear(512, 512)
    y = layer(torch.randn(4096, 512))
    assert abs(y.std().item() - 1) < 0.05


def test_equalized_linear_lr_multiplier_does_not_change_init_output_variance():
    layer = EqualizedLinear(256, 256, lr_multiplier=0.01)
    assert abs(layer(torch.randn(4096, 256)).std().item() - 1) < 0.05


def test_equalized_conv_keeps_unit_variance():
    layer = EqualizedConv2d(128, 128, 3)
    y = layer(torch.randn(16, 128, 16, 16))
    assert abs(y[..., 1:-1, 1:-1].std().item() - 1) < 0.05


def test_demodulated_conv_keeps_unit_variance():
    x = torch.randn(16, 64, 8, 8)
    weight = torch.randn(64, 64, 3, 3) / (64 * 9) ** 0.5
    styles = torch.randn(16, 64).abs() + 0.5
    y = modulated_conv2d(x, weight, styles)
    assert abs(y[..., 1:-1, 1:-1].std().item() - 1) < 0.05


def test_resampling_convs_keep_the_gain_of_plain_convs_on_flat_input():
    # The low-pass removes white-noise energy by design; on a flat image (DC) the up/down
    # paths must give exactly what the plain conv gives.
    x = torch.randn(1, 8, 1, 1).repeat(1, 1, 12, 12)
    weight, styles = torch.randn(4, 8, 3, 3), torch.randn(1, 8)
    plain = modulated_conv2d(x, weight, styles)[..., 4:-4, 4:-4]
    up = modulated_conv2d(x, weight, styles, up=True)[..., 8:-8, 8:-8]
    torch.testing.assert_close(up, plain[..., :1, :1].expand_as(up), rtol=1e-4, atol=1e-4)
    conv = EqualizedConv2d(8, 4, 3)
    down = EqualizedConv2d(8, 4, 3, down=True)
    down.load_state_dict(conv.state_dict())
    torch.testing.assert_close(down(x)[..., 2:-2, 2:-2], conv(x)[..., 4:-4:2, 4:-4:2])


def test_modulated_conv_equals_per_sample_weights():
    x = torch.randn(3, 8, 6, 6)
    weight = torch.randn(5, 8, 3, 3)
    styles = torch.randn(3, 8)
    y = modulated_conv2d(x, weight, styles)
    for i in range(3):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        w = w / w.square().sum(dim=[1, 2, 3], keepdim=True).add(1e-8).sqrt()
        ref = torch.nn.functional.conv2d(x[i : i + 1], w, padding=1)
        torch.testing.assert_close(y[i : i + 1], ref, rtol=1e-4, atol=1e-4)


def test_fir_resampling_preserves_constant_images():
    x = torch.ones(1, 2, 8, 8)
    up, down = upsample2d(x), downsample2d(x)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.ones_like(up[..., 2:-2, 2:-2]))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.ones_like(down[..., 1:-1, 1:-1]))
