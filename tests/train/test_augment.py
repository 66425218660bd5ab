"""ADA augmentation pipeline and p controller (waifugan.train.augment)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from waifugan.train.augment import (
    AUGPIPES,
    SYM6,
    TRANSFORMS,
    AdaController,
    AugmentPipe,
    _translate2d,
    resample,
    resolve_augpipe,
)


def smooth_images(n: int = 8, size: int = 32, seed: int = 0) -> torch.Tensor:
    """[N, 3, size, size] smooth (band-limited) colour images, mostly in [-1, 1]."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, size // 4, size // 4, generator=g)
    return F.interpolate(coarse * 0.5, size=size, mode="bicubic", align_corners=False)


def augment(transforms, x: torch.Tensor, p: float = 1.0, seed: int = 0) -> torch.Tensor:
    return AugmentPipe(transforms, p)(x, torch.Generator().manual_seed(seed))


def luma_chroma(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    luma = x.mean(1, keepdim=True)
    return luma, x - luma


# -- the resampler --------------------------------------------------------------------------


def test_sym6_coefficients_match_pywavelets():
    pywt = pytest.importorskip("pywt", reason="PyWavelets checks the hard-coded filter")
    assert pywt.Wavelet("sym6").dec_lo == pytest.approx(SYM6, abs=1e-15)


def test_identity_matrix_resamples_to_the_input():
    # Orthogonal wavelet: down(up(x)) = x even for white noise, borders included.
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    eye = torch.eye(3, dtype=torch.float64).repeat(4, 1, 1)
    assert (resample(x, eye) - x).abs().max() < 1e-5


def test_integer_translation_matrix_is_an_exact_shift():
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = resample(x, _translate2d(torch.tensor([2.0, 2.0]), torch.tensor([-1.0, -1.0])))
    # output pixel (r, c) reads input pixel (r - 1, c + 2)
    assert (out[:, :, 1:, :-2] - x[:, :, :-1, 2:]).abs().max() < 1e-5


def test_constant_image_stays_constant_under_every_geometric_transform():
    # Translation-invariant input: reflect padding means no black borders or seams.
    x = torch.full((16, 3, 16, 16), 0.3)
    out = augment("bg", x, p=1.0)
    assert (out - 0.3).abs().max() < 1e-5


def test_resampling_blurs_far_less_than_plain_bilinear():
    x, n = smooth_images(), 8
    t = torch.rand(n, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) - 0.5
    ours = resample(resample(x, _translate2d(t[:, 0], t[:, 1])), _translate2d(-t[:, 0], -t[:, 1]))

    def bilinear(img: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = 1
        theta[:, :, 2] = shift.float() * 2 / 32
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        return F.grid_sample(img, grid, padding_mode="reflection", align_corners=False)

    plain = bilinear(bilinear(x, t), -t)
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))
    ours_err = (ours - x)[inner].abs().mean()
    plain_err = (plain - x)[inner].abs().mean()
    assert ours_err < 0.02 and ours_err * 3 < plain_err


# -- p = 0, shapes, determinism, gradients --------------------------------------------------


@pytest.mark.parametrize("augpipe", sorted(AUGPIPES))
def test_p_zero_is_exactly_the_identity(augpipe):
    x = smooth_images(4, 16)
    assert torch.equal(AugmentPipe(augpipe, p=0.0)(x), x)


def test_deterministic_under_a_seeded_generator():
    x = smooth_images(8, 16)
    a, b = augment("bgc", x, 0.5, seed=7), augment("bgc", x, 0.5, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, augment("bgc", x, 0.5, seed=8))
    torch.manual_seed(3)
    c = AugmentPipe("bgc", 0.5)(x)
    torch.manual_seed(3)
    assert torch.equal(c, AugmentPipe("bgc", 0.5)(x))  # the global RNG when no generator


def test_gradients_flow_to_the_input():
    x = smooth_images(8, 16).requires_grad_(True)
    weights = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(4))
    (augment("bgc", x, 0.8) * weights).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert (x.grad.flatten(1).abs().sum(1) > 0).all()


def test_gradcheck_and_r1_double_backward():
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)

    def fn(img: torch.Tensor) -> torch.Tensor:
        return augment("bgc", img, 1.0, seed=5)

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)
    # R1 through the pipeline: |d D(aug(x)) / dx|^2 must reach D's weights.
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    score = F.conv2d(fn(x), w).tanh().sum()
    (grad,) = torch.autograd.grad(score, x, create_graph=True)
    grad.square().sum().backward()
    assert w.grad is not None and w.grad.abs().sum() > 0


# -- each transform at probability 1 --------------------------------------------------------


@pytest.mark.parametrize("transform", TRANSFORMS)
def test_each_transform_keeps_shape_and_changes_the_image(transform):
    x = smooth_images(16, 16)
    out = augment((transform,), x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    changed = (out - x).flatten(1).abs().amax(1) > 1e-3
    assert changed.float().mean() >= 0.25  # flips and luma flips change half of the samples


def test_xflip_mirrors():
    x = smooth_images(16, 32)
    out = augment(("xflip",), x)
    same = (out - x).flatten(1).abs().mean(1) < 0.02
    mirrored = (out - x.flip(3)).flatten(1).abs().mean(1) < 0.02
    assert (same ^ mirrored).all() and same.any() and mirrored.any()


def test_rotate90_turns_by_quarter_turns():
    x = smooth_images(16, 32)
    out = augment(("rotate90",), x)
    errors = torch.stack([(out - x.rot90(k, (2, 3))).flatten(1).abs().mean(1) for k in range(4)])
    assert (errors.amin(0) < 0.02).all()
    assert len(set(errors.argmin(0).tolist())) >= 3


def test_integer_translation_shifts_by_whole_pixels():
    size, x = 32, smooth_images(16, 32)
    out = augment(("xint",), x)
    limit = int(0.125 * size)
    moved = 0
    for i in range(16):
        best = min(
            ((out[i, :, 8:-8, 8:-8] - x[i, :, 8 - dy : size - 8 - dy, 8 - dx : size - 8 - dx])
             .abs().max().item(), dx, dy)
            for dx in range(-limit, limit + 1) for dy in range(-limit, limit + 1)
        )  # fmt: skip
        assert best[0] < 1e-4
        moved += (best[1], best[2]) != (0, 0)
    assert moved >= 12


def test_geometric_transforms_follow_their_matrices():
    # A smooth analytic blob, warped: the output must be the blob at G_inv · p.
    n, size = 8, 32
    coords = torch.arange(size, dtype=torch.float64) + 0.5 - size / 2
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")

    def blob(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
        return torch.exp(-((px - 1.5) ** 2 + (py + 2.0) ** 2) / 30.0)

    x = blob(xx, yy).float().expand(n, 3, size, size)
    for transforms in (("scale",), ("rotate",), ("aniso",), ("xfrac",), resolve_augpipe("bg")):
        pipe = AugmentPipe(transforms, 1.0)
        out = pipe(x, torch.Generator().manual_seed(11))
        G = pipe.geometric_matrices(n, size, size, torch.Generator().manual_seed(11))
        src = G @ torch.stack([xx.flatten(), yy.flatten(), torch.ones(size * size)])
        expected = blob(src[:, 0], src[:, 1]).reshape(n, 1, size, size)
        inner = (src[:, :2].abs() < size / 2 - 2).all(1).reshape(n, 1, size, size)
        error = ((out.double() - expected).abs() * inner).amax()
        assert error < 0.02, (transforms, float(error))
        assert ((out.double() - x.double()).abs().amax((1, 2, 3)) > 0.01).all()


def test_brightness_shifts_the_mean():
    x = smooth_images(256, 8)
    shift = augment(("brightness",), x) - x
    per_sample = shift.flatten(1).mean(1)
    assert (shift.flatten(1).std(1) < 1e-5).all()  # one constant per sample
    assert 0.15 < per_sample.std() < 0.25  # std 0.2


def test_contrast_scales_the_deviation_about_mid_grey():
    x = smooth_images(256, 8)
    ratio = augment(("contrast",), x) / x
    assert (ratio.flatten(1).std(1) < 1e-4).all()
    assert 0.4 < ratio.flatten(1).mean(1).log2().std() < 0.6  # log2 std 0.5


def test_lumaflip_negates_luma_and_keeps_chroma():
    x = smooth_images(32, 8)
    out = augment(("lumaflip",), x)
    luma, chroma = luma_chroma(x)
    out_luma, out_chroma = luma_chroma(out)
    assert (out_chroma - chroma).abs().max() < 1e-5
    flipped = (out_luma + luma).flatten(1).abs().amax(1) < 1e-5
    kept = (out_luma - luma).flatten(1).abs().amax(1) < 1e-5
    assert (flipped ^ kept).all() and flipped.any() and kept.any()


def test_hue_rotates_chroma_keeping_luma_and_saturation():
    x = smooth_images(32, 8)
    out = augment(("hue",), x)
    luma, chroma = luma_chroma(x)
    out_luma, out_chroma = luma_chroma(out)
    assert (out_luma - luma).abs().max() < 1e-5
    assert (out_chroma.norm(dim=1) - chroma.norm(dim=1)).abs().max() < 1e-5
    cos = (out_chroma * chroma).sum(1) / (out_chroma.norm(dim=1) * chroma.norm(dim=1) + 1e-12)
    assert (cos.flatten(1).mean(1) < 0.99).float().mean() > 0.8


def test_saturation_scales_chroma_keeping_luma():
    x = smooth_images(256, 8)
    out = augment(("saturation",), x)
    luma, chroma = luma_chroma(x)
    out_luma, out_chroma = luma_chroma(out)
    assert (out_luma - luma).abs().max() < 1e-5
    scale = out_chroma.norm(dim=1) / chroma.norm(dim=1)
    assert (scale.flatten(1).std(1) < 1e-3).all()
    assert 0.8 < scale.flatten(1).mean(1).log2().std() < 1.2  # log2 std 1


def test_unknown_augpipe_is_refused():
    with pytest.raises(ValueError, match="unknown augpipe 'bgx'"):
        AugmentPipe("bgx")
    with pytest.raises(ValueError, match="blur"):
        AugmentPipe(("xflip", "blur"))


def test_rotation_probability_combines_to_p():
    pipe, n = AugmentPipe(("rotate",), 0.3), 4000
    G = pipe.geometric_matrices(n, 16, 16, torch.Generator().manual_seed(0))
    rotated = (G[:, 0, 1] != 0).double().mean()
    assert abs(rotated - 0.3) < 0.03


# -- the p controller -----------------------------------------------------------------------


def test_controller_raises_p_when_d_overfits_and_lowers_it_otherwise():
    ada = AdaController(target=0.6, ada_kimg=0.5, interval=4)
    step = 8 * 4 / (0.5 * 1000)  # batch · interval / (ada_kimg · 1000)
    for batch_idx in range(12):  # D calls every real image real: r_t = 1 > 0.6
        ada.observe(torch.ones(8))
        adjusted = ada.update(batch_idx, batch=8)
        assert adjusted == ((batch_idx + 1) % 4 == 0)
    assert ada.rt == 1.0 and ada.p == pytest.approx(3 * step)
    for batch_idx in range(12, 24):  # r_t = 0.5 - 0.5 = 0 < 0.6: p falls, never below 0
        ada.observe(torch.tensor([1.0, -1.0] * 4))
        ada.update(batch_idx, batch=8)
    assert ada.rt == 0.0 and ada.p == 0.0


def test_controller_state_round_trips_mid_interval():
    signs = torch.randn(20, 8, generator=torch.Generator().manual_seed(0)) + 1.5
    a = AdaController(ada_kimg=0.2)
    for i in range(10):
        a.observe(signs[i])
        a.update(i, batch=8)
    b = AdaController(ada_kimg=0.2)
    b.load_state_dict(a.state_dict())
    assert b.state_dict() == a.state_dict() and a.sign_count > 0  # halfway through an interval
    for i in range(10, 20):
        for ctrl in (a, b):
            ctrl.observe(signs[i])
            ctrl.update(i, batch=8)
    assert a.state_dict() == b.state_dict() and a.p > 0


def test_controller_uses_reduced_totals():
    ada = AdaController(ada_kimg=1.0, interval=1)
    ada.observe(torch.ones(4))
    ada.update(0, batch=4, totals=(-4.0, 8.0))  # e.g. summed over two ranks
    assert ada.rt == -0.5 and ada.p == 0.0 and ada.sign_count == 0
    assert math.isclose(AdaController(p=0.25).p, 0.25)
