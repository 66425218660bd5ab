import pytest
import torch

from waifugan.train.diffaugment import color, cutout, diff_augment, parse_policy, translation


def _images(n: int = 8, size: int = 16) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1


def test_translation_shifts_whole_pixels_and_zero_fills():
    x = _images()
    y = translation(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    for i in range(len(x)):  # each output is the input moved by some (dy, dx) within ±2 px
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                shifted = torch.zeros_like(x[i])
                src = x[i][:, max(-dy, 0) : 16 - max(dy, 0), max(-dx, 0) : 16 - max(dx, 0)]
                shifted[:, max(dy, 0) : 16 - max(-dy, 0), max(dx, 0) : 16 - max(-dx, 0)] = src
                found |= torch.equal(shifted, y[i])
        assert found, i


def test_cutout_zeroes_one_square_of_half_the_side():
    x = torch.ones(64, 3, 16, 16)
    y = cutout(x, torch.Generator().manual_seed(2))
    erased = (y == 0).all(dim=1)  # [N, H, W]
    assert ((y == 0) | (y == 1)).all()
    for mask in erased:
        rows, cols = mask.nonzero(as_tuple=True)
        if len(rows):  # a rectangle (possibly clipped at the border) of at most 8x8
            h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
            assert h <= 8 and w <= 8 and mask.sum() == h * w
    assert erased.float().mean() > 0.1  # about a quarter of the pixels on average


def test_color_moves_brightness_saturation_and_contrast():
    x = _images(256)
    y = color(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape
    brightness_shift = (y.mean(dim=[1, 2, 3]) - x.mean(dim=[1, 2, 3])).abs()
    assert brightness_shift.max() > 0.2
    chroma = lambda t: (t - t.mean(dim=1, keepdim=True)).abs().mean(dim=[1, 2, 3])  # noqa: E731
    ratio = chroma(y) / chroma(x)
    assert ratio.min() < 0.5 and ratio.max() > 1.2


def test_gradients_flow_and_policy_is_validated():
    x = _images().requires_grad_(True)
    diff_augment(x, parse_policy("color,translation,cutout")).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert diff_augment(x, ()) is x
    with pytest.raises(ValueError, match="rotation"):
        parse_policy("color,rotation")


def test_seeded_augmentation_is_deterministic():
    x = _images()
    a = diff_augment(x, generator=torch.Generator().manual_seed(5))
    b = diff_augment(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_training_options_refuse_an_unknown_policy():
    from waifugan.errors import WaifuganError
    from waifugan.train.options import resolve_options

    with pytest.raises(WaifuganError, match="--diffaug: unknown DiffAugment policy 'blur'"):
        resolve_options("cpu64", {"data": "d.zip", "diffaug": "color,blur"}, 64)


def test_a_generator_without_noise_has_no_noise_inputs_and_round_trips(tmp_path):
    from waifugan.networks.generator import Generator, GeneratorConfig
    from waifugan.networks.model_file import load_model, save_model

    cfg = GeneratorConfig(img_resolution=16, z_dim=8, w_dim=8, map_depth=1, channel_base=128,
                          channel_max=8, use_noise=False)  # fmt: skip
    G = Generator(cfg).eval()
    assert not [n for n in G.state_dict() if "noise" in n]
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    assert torch.equal(G(z, noise_mode="random"), G(z, noise_mode="const"))
    loaded = load_model(save_model(G, tmp_path / "g.safetensors")).eval()
    assert loaded.cfg.use_noise is False and torch.equal(loaded(z), G(z))
