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
