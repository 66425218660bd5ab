"""Mixed precision of the high-resolution blocks: which dtype a block computes in, and the
guards that keep FP16 finite.

A block built with `use_fp16` (the highest `num_fp16_res` resolutions, never below 8 px, as in
StyleGAN2-ADA) casts its activations to its `mixed_dtype` on devices in
MIXED_PRECISION_DEVICES, and keeps weights, styles and demodulation coefficients in FP32.
FP16 outputs are clamped to ±conv_clamp (256 in the GPU presets) and modulated convolutions
pre-normalize weight and styles (`fp16_prenormalize`); BF16 has FP32's range and needs neither,
at 3 fewer mantissa bits.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Device types whose FP16 blocks really run in reduced precision. CUDA has fast FP16/BF16
# kernels; CPU FP16 convolutions are slower than FP32 ones, so CPU stays in FP32 (tests add
# "cpu" here to exercise the FP16 path without a GPU).
MIXED_PRECISION_DEVICES = {"cuda"}

MIXED_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}

# StyleGAN2-ADA never runs the 4x4 block in FP16: the FP16 range starts at 8 px at the lowest.
FP16_MIN_RESOLUTION = 8


def fp16_resolutions(img_resolution: int, num_fp16_res: int) -> set[int]:
    """The block resolutions that run in reduced precision: the highest num_fp16_res, ≥ 8 px."""
    if num_fp16_res <= 0:
        return set()
    log2 = int(math.log2(img_resolution))
    start = max(2 ** (log2 + 1 - num_fp16_res), FP16_MIN_RESOLUTION)
    return {2**i for i in range(2, log2 + 1) if 2**i >= start}


class MixedPrecisionBlock(nn.Module):
    """Base of G and D blocks: `use_fp16` from the config, `mixed_dtype` and `channels_last`
    chosen by the trainer (`set_mixed_precision`), FP16 by default as in the presets."""

    def __init__(self, use_fp16: bool) -> None:
        super().__init__()
        self.use_fp16 = use_fp16
        self.mixed_dtype = torch.float16
        self.channels_last = False

    def compute_dtype(self, device: torch.device) -> torch.dtype:
        """The dtype of this block's activations on `device`."""
        if self.use_fp16 and device.type in MIXED_PRECISION_DEVICES:
            return self.mixed_dtype
        return torch.float32

    def to_compute(self, x: torch.Tensor) -> torch.Tensor:
        """x in this block's dtype (and memory format)."""
        dtype = self.compute_dtype(x.device)
        if self.channels_last and dtype != torch.float32:
            return x.to(dtype=dtype, memory_format=torch.channels_last)
        return x.to(dtype)


def set_mixed_precision(
    net: nn.Module, precision: str = "fp16", channels_last: bool = False
) -> None:
    """Run net's use_fp16 blocks in `precision` ("fp16", "bf16"; "fp32" turns them off)."""
    for block in net.modules():
        if isinstance(block, MixedPrecisionBlock):
            if precision == "fp32":
                block.use_fp16 = False
            else:
                block.mixed_dtype = MIXED_DTYPES[precision]
            block.channels_last = channels_last


def fp16_prenormalize(
    weight: torch.Tensor,  # [C_out, C_in, k, k] float32
    styles: torch.Tensor,  # [N, C_in] float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weight and styles scaled down before an FP16 demodulated conv.

    Demodulation divides each (sample, output channel) by the norm of weight * styles, so a
    scale per output channel of the weight and per sample of the styles cancels. Dividing the
    weight by its max |value| per output channel times sqrt(fan-in) and the styles by their max
    |value| per sample (NVlabs' stylegan2-ada-pytorch does the same) keeps x * styles and the
    conv sums far from FP16's 65504; without it they overflow and the clamp turns them into
    saturated ±conv_clamp values with zero gradient.
    """
    fan_in = weight[0].numel()
    w_max = weight.abs().amax(dim=[1, 2, 3], keepdim=True).clamp_min(1e-8)
    s_max = styles.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
    return weight / (w_max * math.sqrt(fan_in)), styles / s_max
