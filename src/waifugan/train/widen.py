"""Widening: load a narrower network's weights into a wider one that computes the same function.

`--init` with a larger `--cbase` / `--cmax` than the source's gives layers more channels. Each
source weight goes into the top-left slice of the wider tensor, and the new parts are set so
that the new channels cannot change any old output (the Net2Net idea, Chen et al. 2016):

- Generator (demodulated convs): new output channels keep their fresh random weights, and the
  weights from new input channels into old outputs are zero. Zeros there also leave every old
  output's demodulation norm unchanged. Gradients reach the zeros through the random new
  channels, so the new width is trained from the first step.
- Discriminator (no demodulation): new output channels are zero (weights and bias), and the
  weights from new inputs stay random, so every new channel is exactly 0 until training moves
  it. The minibatch-stddev feature averages over all channels; its column in the epilogue conv
  is scaled by C_new / C_old to cancel the zeros the average now includes.

Equalized learning rate multiplies weights by 1/sqrt(fan_in) at run time, so copied weights
are scaled by sqrt(fan_in_new / fan_in_old) where the fan-in grew.
"""

from __future__ import annotations

import math

import torch

# The D epilogue's conv, whose last input channels are the minibatch-stddev features.
MBSTD_CONV = "b4.conv.weight"


def can_widen(target: torch.Tensor, source: torch.Tensor) -> bool:
    """True when `target` is `source` grown along its channel dims (0 and 1) only."""
    if target.ndim != source.ndim or target.ndim == 0 or target.shape == source.shape:
        return False
    grown = all(t >= s for t, s in zip(target.shape, source.shape, strict=True))
    return grown and target.shape[2:] == source.shape[2:]


@torch.no_grad()
def widen_into(
    target: torch.Tensor, source: torch.Tensor, network: str, name: str, mbstd_channels: int = 1
) -> None:
    """Write `source` into the freshly initialised, larger `target` in place (rules above).

    `network` is "G" (G and G_ema) or "D"; `name` picks out the minibatch-stddev conv of D.
    """
    src = source.to(target.device, target.dtype)
    if target.ndim == 1 or (target.ndim >= 2 and target.shape[1] == src.shape[1]):
        _widen_outputs(target, src, network)
        return
    out_s, in_s, in_t = src.shape[0], src.shape[1], target.shape[1]
    scale = math.sqrt(in_t / in_s)  # equalized-lr gain: 1/sqrt(fan_in), kernel size unchanged
    if network == "D" and name == MBSTD_CONV:
        f = mbstd_channels
        feats_s, feats_t = in_s - f, in_t - f
        target[:out_s, :feats_s] = src[:, :feats_s] * scale
        target[:out_s, feats_t:] = src[:, feats_s:] * scale * (feats_t / feats_s)
        target[out_s:] = 0
        return
    target[:out_s, :in_s] = src * scale
    if network == "D":
        target[out_s:] = 0  # new channels start at exactly 0; their inputs stay random
    else:
        target[:out_s, in_s:] = 0  # old outputs ignore the new channels; new ones stay random


def _widen_outputs(target: torch.Tensor, src: torch.Tensor, network: str) -> None:
    """Biases, affine layers and G's const input: only the output (first) dim grew."""
    n = src.shape[0]
    target[:n] = src
    if network == "D":
        target[n:] = 0
