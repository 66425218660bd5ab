"""Mixed precision on CPU: the FP16 guard of the modulated conv, the FP16 block range, the
clamps, and FP16/BF16 networks agreeing with FP32 (CPU runs FP16 convolutions, slowly)."""

import pytest
import torch

from waifugan.networks import precision
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig, modulated_conv2d
from waifugan.networks.precision import fp16_resolutions, set_mixed_precision


@pytest.fixture
def mixed_on_cpu(monkeypatch):
    """Let use_fp16 blocks run reduced precision on CPU, as they do on CUDA."""
    monkeypatch.setattr(precision, "MIXED_PRECISION_DEVICES", {"cuda", "cpu"})


def _conv_inputs(scale: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4, 64, 8, 8, generator=g)
    weight = torch.randn(32, 64, 3, 3, generator=g) / 24  # the equalized-LR gain 1/sqrt(576)
    styles = (torch.rand(4, 64, generator=g) + 0.5) * scale
    return x, weight, styles


@pytest.mark.parametrize("up", [False, True])
@pytest.mark.parametrize("scale", [1.0, 1e3, 1e5])
def test_fp16_modulated_conv_with_large_styles_stays_finite_and_matches_fp32(scale, up):
    x, weight, styles = _conv_inputs(scale)
    reference = modulated_conv2d(x, weight, styles, up=up)  # float32
    x16 = x.half().requires_grad_(True)
    out = modulated_conv2d(x16, weight, styles, up=up)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    # Demodulated outputs have unit scale whatever the styles: FP16's 11-bit mantissa.
    torch.testing.assert_close(out.float(), reference, rtol=0, atol=2e-2)
    out.float().square().sum().backward()
    assert x16.grad is not None and torch.isfinite(x16.grad).all() and x16.grad.abs().sum() > 0


def test_without_the_guard_the_same_fp16_conv_overflows():
    # What the guard prevents: styles of 1e5 make x * styles exceed FP16's 65504.
    x, weight, styles = _conv_inputs(1e5)
    naive = torch.nn.functional.conv2d(x.half() * styles.half()[..., None, None], weight.half())
    assert not torch.isfinite(naive).all()


def test_fp16_blocks_start_at_8_px_at_the_lowest():
    assert fp16_resolutions(256, 4) == {32, 64, 128, 256}
    assert fp16_resolutions(32, 4) == {8, 16, 32}  # 2 ** (5 + 1 - 4) = 4 would include 4x4
    assert fp16_resolutions(64, 0) == set()
    cfg = GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, map_depth=1, channel_base=128,
                          channel_max=8, num_fp16_res=9)  # fmt: skip
    G = Generator(cfg)
    assert not G.synthesis.b4.use_fp16 and G.synthesis.b8.use_fp16 and G.synthesis.b16.use_fp16
    D = Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=128, channel_max=8,
                                          num_fp16_res=9))  # fmt: skip
    assert D.b16.use_fp16 and D.b8.use_fp16


def test_discriminator_epilogue_conv_is_clamped():
    D = Discriminator(DiscriminatorConfig(img_resolution=16, channel_base=128, conv_clamp=256))
    assert D.b4.conv.conv_clamp == 256
    D.b4.conv.bias.data.fill_(1e4)  # an epilogue conv output far beyond the clamp
    x = torch.randn(4, D.b4.conv.weight.shape[1] - 1, 4, 4)
    features = D.b4.conv(torch.cat([x, torch.zeros(4, 1, 4, 4)], dim=1))
    assert features.abs().max() <= 256


def _tiny_pair(num_fp16_res: int = 2, seed: int = 0):
    torch.manual_seed(seed)
    g_cfg = GeneratorConfig(img_resolution=16, z_dim=32, w_dim=32, map_depth=2, channel_base=512,
                            channel_max=32, num_fp16_res=num_fp16_res, conv_clamp=256)  # fmt: skip
    d_cfg = DiscriminatorConfig(img_resolution=16, channel_base=512, channel_max=32,
                                num_fp16_res=num_fp16_res, conv_clamp=256)  # fmt: skip
    return Generator(g_cfg), Discriminator(d_cfg)


@pytest.mark.parametrize(("name", "atol"), [("fp16", 2e-2), ("bf16", 1.5e-1)])
def test_mixed_precision_networks_agree_with_fp32(mixed_on_cpu, name, atol):
    G, D = _tiny_pair()
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    set_mixed_precision(G, "fp32")
    set_mixed_precision(D, "fp32")
    img32 = G(z, noise_mode="const")
    logits32 = D(img32)
    G16, D16 = _tiny_pair()
    set_mixed_precision(G16, name)
    set_mixed_precision(D16, name)
    img16 = G16(z, noise_mode="const")
    assert img16.dtype == torch.float32 and torch.isfinite(img16).all()
    assert G16.synthesis.b16.compute_dtype(img16.device) == precision.MIXED_DTYPES[name]
    torch.testing.assert_close(img16, img32, rtol=0, atol=atol)
    logits16 = D16(img32)
    assert logits16.dtype == torch.float32
    torch.testing.assert_close(logits16, logits32, rtol=0, atol=atol * 5)


def test_fp16_training_gradients_are_finite_with_extreme_styles(mixed_on_cpu):
    G, D = _tiny_pair()
    with torch.no_grad():  # styles of ~1e4 in every FP16 layer
        for name, p in G.named_parameters():
            if name.endswith("affine.bias") and ".b16." in name:
                p.fill_(1e4)
    loss = torch.nn.functional.softplus(-D(G(torch.randn(4, 32), noise_mode="random"))).mean()
    loss.backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        assert p.grad is None or torch.isfinite(p.grad).all(), name


def test_without_mixed_precision_devices_cpu_stays_fp32():
    G, _ = _tiny_pair()
    assert G.synthesis.b16.use_fp16
    assert G.synthesis.b16.compute_dtype(torch.device("cpu")) == torch.float32
