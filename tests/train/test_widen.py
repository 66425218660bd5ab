"""Widening on --init: a wider network loaded from a narrower one computes the same function,
and its new channels get gradients (they train)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tests.tiny import tiny_D, tiny_G
from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import Generator
from waifugan.train.transfer import transfer_weights
from waifugan.train.widen import can_widen


def widened_G(cmax: int = 64, cbase: int = 1024) -> tuple[Generator, Generator]:
    source = tiny_G()  # cbase 512, cmax 32
    torch.manual_seed(1)
    wide = Generator(dataclasses.replace(source.cfg, channel_base=cbase, channel_max=cmax))
    report = transfer_weights(wide, source.state_dict())
    assert report.widened and not report.mismatched and not report.new
    return source, wide.eval()


def widened_D(cmax: int = 64, cbase: int = 1024) -> tuple[Discriminator, Discriminator]:
    source = tiny_D()
    with torch.no_grad():  # a D that leans on the minibatch stddev, as trained ones do
        source.b4.conv.weight[:, -1] *= 30
    torch.manual_seed(1)
    wide = Discriminator(dataclasses.replace(source.cfg, channel_base=cbase, channel_max=cmax))
    report = transfer_weights(wide, source.state_dict())
    assert "b4.conv.weight" in report.widened and not report.mismatched
    return source, wide


@pytest.mark.parametrize("cmax, cbase", [(64, 512), (64, 1024), (48, 2048)])
def test_a_widened_generator_draws_the_same_images(cmax, cbase):
    source, wide = widened_G(cmax, cbase)
    z = torch.randn(6, source.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = source(z, psi=0.7), wide(z, psi=0.7)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("cmax, cbase", [(64, 512), (64, 1024)])
def test_a_widened_discriminator_gives_the_same_logits(cmax, cbase):
    source, wide = widened_D(cmax, cbase)
    img = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, got = source(img), wide(img)
    # The new 4x4 channels are exactly 0, but their minibatch stddev is sqrt(1e-8) = 1e-4,
    # not 0: the compensated average differs by about that much.
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=1e-3)


def test_without_the_mbstd_compensation_the_logits_would_move():
    source, wide = widened_D()
    with torch.no_grad():
        wide.b4.conv.weight[:, -1] /= 2  # what the average over twice the channels does
        img = torch.randn(8, 3, 16, 16, generator=torch.Generator().manual_seed(0))
        assert (wide(img) - source(img)).abs().max() > 5e-2


def test_the_new_generator_channels_get_gradients():
    source, wide = widened_G()
    wide.train()
    wide(torch.randn(4, source.z_dim)).square().mean().backward()
    conv = wide.synthesis.b8.conv1.weight
    out_s, in_s = source.synthesis.b8.conv1.weight.shape[:2]
    assert not conv.detach()[:out_s, in_s:].any()  # old outputs ignore the new channels
    assert conv.grad is not None and conv.grad[:, in_s:].abs().sum() > 0  # zeros that train


def test_the_new_discriminator_channels_start_at_zero_and_get_gradients():
    source, wide = widened_D()
    conv = wide.b8.conv1.weight
    out_s = source.b8.conv1.weight.shape[0]
    assert not conv.detach()[out_s:].any()
    wide(torch.randn(8, 3, 16, 16)).sum().backward()
    assert conv.grad is not None and conv.grad[out_s:].abs().sum() > 0


@pytest.mark.parametrize(
    "target, source, expected",
    [
        ((64, 32, 3, 3), (32, 32, 3, 3), True),
        ((64, 64, 3, 3), (32, 32, 3, 3), True),
        ((64,), (32,), True),
        ((32, 32, 3, 3), (64, 64, 3, 3), False),  # narrower: not a widening
        ((64, 32, 1, 1), (32, 32, 3, 3), False),  # another kernel
        ((64, 16, 3, 3), (32, 32, 3, 3), False),  # one dim grew, one shrank
        ((32, 32, 3, 3), (32, 32, 3, 3), False),  # same shape: a plain match
    ],
)
def test_can_widen(target, source, expected):
    assert can_widen(torch.zeros(target), torch.zeros(source)) is expected
