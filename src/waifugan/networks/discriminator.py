"""StyleGAN2 residual discriminator with a minibatch-standard-deviation epilogue."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from waifugan.networks.layers import EqualizedConv2d, EqualizedLinear
from waifugan.networks.precision import MixedPrecisionBlock, fp16_resolutions

SQRT_HALF = math.sqrt(0.5)


@dataclass(frozen=True)
class DiscriminatorConfig:
    """Constructor arguments of the discriminator."""

    img_resolution: int = 64
    channel_base: int = 32768  # channels at resolution r = min(channel_base / r, channel_max)
    channel_max: int = 512
    mbstd_group_size: int = 4  # samples per group for the minibatch stddev feature
    mbstd_num_channels: int = 1
    num_fp16_res: int = 0  # the highest N resolutions run in FP16 on CUDA
    conv_clamp: float | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain-data form for JSON."""
        return asdict(self)

    def channels(self, res: int) -> int:
        """Feature maps at a resolution."""
        return min(self.channel_base // res, self.channel_max)


class DiscriminatorBlock(MixedPrecisionBlock):
    """conv0 (3x3) → conv1 (3x3, down 2x), plus a 1x1 down-sampled residual skip."""

    def __init__(self, cfg: DiscriminatorConfig, resolution: int, use_fp16: bool) -> None:
        super().__init__(use_fp16)
        tmp_ch, out_ch = cfg.channels(resolution), cfg.channels(resolution // 2)
        clamp = cfg.conv_clamp
        if resolution == cfg.img_resolution:
            self.fromrgb = EqualizedConv2d(3, tmp_ch, 1, activation="lrelu", conv_clamp=clamp)
        self.conv0 = EqualizedConv2d(tmp_ch, tmp_ch, 3, activation="lrelu", conv_clamp=clamp)
        # Residual branches are scaled by √½ so the sum keeps unit variance (StyleGAN2 §4.1).
        self.conv1 = EqualizedConv2d(
            tmp_ch, out_ch, 3, activation="lrelu", down=True, gain=SQRT_HALF, conv_clamp=clamp
        )
        self.skip = EqualizedConv2d(tmp_ch, out_ch, 1, bias=False, down=True, gain=SQRT_HALF)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, R, R] → [N, C', R/2, R/2]
        x = self.to_compute(x)  # the block's dtype; the next block casts to its own
        if hasattr(self, "fromrgb"):
            x = self.fromrgb(x)
        y = self.skip(x)
        x = self.conv1(self.conv0(x))
        return x + y


def minibatch_stddev(x: torch.Tensor, group_size: int, num_channels: int) -> torch.Tensor:
    """Append the std over sample groups as extra feature maps (Karras et al. 2018)."""
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        g = math.gcd(n, g)  # fall back to a group size that divides the batch
    f = num_channels
    y = x.reshape(g, -1, f, c // f, h, w)  # [G, M, F, C/F, H, W]
    y = (y - y.mean(dim=0)).square().mean(dim=0)
    y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # [M, F]
    y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)  # [N, F, H, W]
    return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """4x4: minibatch stddev → 3x3 conv → dense → dense to one logit."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        ch = cfg.channels(4)
        self.group_size = cfg.mbstd_group_size
        self.num_channels = cfg.mbstd_num_channels
        self.conv = EqualizedConv2d(
            ch + cfg.mbstd_num_channels, ch, 3, activation="lrelu", conv_clamp=cfg.conv_clamp
        )
        self.fc = EqualizedLinear(ch * 16, ch, activation="lrelu")
        self.out = EqualizedLinear(ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, C, 4, 4] → [N, 1]
        x = minibatch_stddev(x.float(), self.group_size, self.num_channels)
        x = self.conv(x)
        return self.out(self.fc(x.flatten(1)))


class Discriminator(nn.Module):
    """Residual D: blocks b{img_resolution} ... b8, then the b4 epilogue; one logit per image."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.img_resolution = cfg.img_resolution
        log2 = int(math.log2(cfg.img_resolution))
        self.resolutions = [2**i for i in range(log2, 2, -1)]
        fp16_res = fp16_resolutions(cfg.img_resolution, cfg.num_fp16_res)
        for res in self.resolutions:
            setattr(self, f"b{res}", DiscriminatorBlock(cfg, res, res in fp16_res))
        self.b4 = DiscriminatorEpilogue(cfg)

    def forward(self, img: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W] in [-1, 1] → [N, 1]
        x = img
        for res in self.resolutions:
            x = getattr(self, f"b{res}")(x)
        return self.b4(x)
