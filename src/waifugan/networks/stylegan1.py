"""StyleGAN1 generator (Karras et al. 2019, "A Style-Based Generator Architecture for GANs").

The synthesis network of TensorFlow StyleGAN's `G_style`, next to the StyleGAN2 one in
`generator.py`, so models trained with the original StyleGAN (the 2019 anime face model among
them) run here. The mapping network, the truncation trick and the seed convention are the
StyleGAN2 generator's own; only the synthesis differs. Per layer:

    [up-sample +] 3x3 conv → + noise · per-channel strength → + bias → leaky ReLU 0.2
    → instance norm → AdaIN style: x · (1 + s_scale) + s_shift, with s = affine(w)

Up-sampling is nearest ×2 then the conv, or, at 128 px and above, one fused 4x4 stride-2
transposed conv (what TF's `fused_scale='auto'` picks), and then a [1,2,1]⊗[1,2,1] blur. A
single 1x1 ToRGB at the end (no skip connections). Note TF's fused op is not its unfused op
made faster: it equals nearest ×2 followed by the 3x3 kernel rotated by 180° (a true
convolution), and the weights of those layers were trained that way, so it is reproduced
as is (tests/networks/test_stylegan1.py shows the identity). Parameter names are resolution-indexed
like the StyleGAN2 generator's: `synthesis.b64.conv0.weight`, `synthesis.b4.conv0.style.bias`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from waifugan.networks.base import GeneratorBase, PyramidConfig
from waifugan.networks.generator import GeneratorConfig, MappingNetwork
from waifugan.networks.layers import EqualizedLinear

# Equalized-LR gain of every conv followed by leaky ReLU (He et al. 2015); StyleGAN1 folds it
# into the weight scale instead of multiplying after the activation as StyleGAN2 does.
CONV_GAIN = math.sqrt(2.0)
LRELU_SLOPE = 0.2
# Blur after every up-sampling: [1, 2, 1] binomial, normalized to sum 1 (StyleGAN1 §A).
_BLUR = (0.25, 0.5, 0.25)


@dataclass(frozen=True)
class StyleGAN1Config(PyramidConfig):
    """Constructor arguments of the StyleGAN1 generator; saved as JSON with its weights."""

    img_resolution: int = 512  # output side in pixels, a power of two ≥ 8
    z_dim: int = 512
    w_dim: int = 512
    map_depth: int = 8
    # Channels at resolution r = min(channel_base / r, channel_max): TF's fmap_base × 2, so the
    # 2019 anime model (fmap_base 8192, fmap_max 512) is 512 at 4-32 px ... 32 at 512 px.
    channel_base: int = 16384
    channel_max: int = 512
    # Conv0_up is one fused 4x4 stride-2 transposed conv at this output resolution and above
    # (TF fused_scale='auto': 128), nearest ×2 + 3x3 conv below; None = never fused.
    fused_up_res: int | None = 128
    # The truncation trick moves only the first N ws towards w_avg unless a cutoff is given
    # (TF G_style default: 8, the 4-32 px layers); None = every layer.
    truncation_cutoff: int | None = 8

    def mapping_config(self) -> GeneratorConfig:
        """The shared mapping network reads only z_dim, w_dim and map_depth of this."""
        return GeneratorConfig(
            img_resolution=self.img_resolution,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            map_depth=self.map_depth,
        )

    def __post_init__(self) -> None:
        self.check_resolution()
        r = self.img_resolution
        if self.channels(r) < 1:
            raise ValueError(f"channel_base {self.channel_base} gives no channels at {r} px")


def instance_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalize each feature map of each sample to zero mean and unit variance."""
    x = x - x.mean(dim=[2, 3], keepdim=True)
    return x * (x.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()


def blur2d(x: torch.Tensor) -> torch.Tensor:
    """[1,2,1]⊗[1,2,1] / 16 low-pass, same size out (zero padding 1), depthwise."""
    taps = torch.tensor(_BLUR, dtype=x.dtype, device=x.device)
    kernel = (taps[:, None] * taps[None, :]).expand(x.shape[1], 1, 3, 3)
    return F.conv2d(x, kernel, padding=1, groups=x.shape[1])


def fused_up_weight(weight: torch.Tensor) -> torch.Tensor:
    """3x3 kernel [C_out, C_in, 3, 3] → the 4x4 kernel of nearest ×2 + conv as one op.

    The kernel padded by one and summed over its four one-pixel shifts, laid out for
    `conv_transpose2d` ([C_in, C_out, 4, 4]).
    """
    w = F.pad(weight, (1, 1, 1, 1))
    w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]
    return w.transpose(0, 1)


class StyleLayer(nn.Module):
    """One StyleGAN1 layer: optional (up-sampling) 3x3 conv, then noise, bias, leaky ReLU,
    instance norm and the AdaIN style of its w."""

    noise_const: torch.Tensor  # [R, R] fixed noise for noise_mode="const"

    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, resolution: int, up: str = ""
    ) -> None:
        """in_channels 0: no conv (the layer on the learned 4x4 constant); up: '', 'nearest'
        or 'fused'."""
        super().__init__()
        self.up = up
        self.resolution = resolution
        if in_channels:
            self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
            self.weight_gain = CONV_GAIN / math.sqrt(in_channels * 9)
        self.noise_strength = nn.Parameter(torch.zeros(out_channels))  # one per channel
        self.bias = nn.Parameter(torch.zeros(out_channels))
        # First half scales (bias 1, so a fresh layer starts as the identity), second shifts.
        self.style = EqualizedLinear(w_dim, out_channels * 2)
        assert self.style.bias is not None
        with torch.no_grad():
            self.style.bias[:out_channels] = 1.0
        self.register_buffer("noise_const", torch.randn(resolution, resolution))

    def conv(self, x: torch.Tensor) -> torch.Tensor:
        """The layer's convolution: [N, C_in, R or R/2, ...] → [N, C_out, R, R]."""
        w = self.weight * self.weight_gain
        if self.up == "fused":
            # TF conv2d_transpose with SAME padding: out[2i + d - 1] += x[i] · w4[d].
            x = F.conv_transpose2d(x, fused_up_weight(w), stride=2, padding=1)
        else:
            if self.up == "nearest":
                x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.conv2d(x, w, padding=1)
        return blur2d(x) if self.up else x

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        if hasattr(self, "weight"):
            x = self.conv(x)
        strength = self.noise_strength.reshape(1, -1, 1, 1)
        if noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + noise * strength
        elif noise_mode == "const":
            x = x + self.noise_const * strength
        x = F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), LRELU_SLOPE)
        x = instance_norm(x)
        scale, shift = self.style(w).unsqueeze(-1).unsqueeze(-1).chunk(2, dim=1)
        return x * scale + shift


class ToRGB(nn.Module):
    """Final 1x1 conv to RGB with bias (equalized LR, gain 1), no activation."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(3, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.weight_gain, self.bias)


class StyleGAN1Block(nn.Module):
    """One resolution: (learned constant | up-sampling conv0) → conv1."""

    def __init__(self, cfg: StyleGAN1Config, resolution: int) -> None:
        super().__init__()
        out_ch = cfg.channels(resolution)
        if resolution == 4:
            self.const = nn.Parameter(torch.ones(out_ch, 4, 4))
            self.conv0 = StyleLayer(0, out_ch, cfg.w_dim, 4)
        else:
            fused = cfg.fused_up_res is not None and resolution >= cfg.fused_up_res
            in_ch = cfg.channels(resolution // 2)
            up = "fused" if fused else "nearest"
            self.conv0 = StyleLayer(in_ch, out_ch, cfg.w_dim, resolution, up)
        self.conv1 = StyleLayer(out_ch, out_ch, cfg.w_dim, resolution)

    def forward(
        self,
        x: torch.Tensor | None,  # [N, C, R/2, R/2], None for the 4x4 block
        ws: torch.Tensor,  # [N, 2, w_dim]
        noise_mode: str,
    ) -> torch.Tensor:  # [N, C', R, R]
        if x is None:
            x = self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
        x = self.conv0(x, ws[:, 0], noise_mode)
        return self.conv1(x, ws[:, 1], noise_mode)


class StyleGAN1Synthesis(nn.Module):
    """ws → image through blocks b4 ... b{img_resolution} and one final 1x1 ToRGB."""

    def __init__(self, cfg: StyleGAN1Config) -> None:
        super().__init__()
        self.resolutions = cfg.block_resolutions
        for res in self.resolutions:
            setattr(self, f"b{res}", StyleGAN1Block(cfg, res))
        self.num_ws = 2 * len(self.resolutions)  # one w per layer, two layers per block
        self.torgb = ToRGB(cfg.channels(cfg.img_resolution))

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const"
    ) -> torch.Tensor:  # ws [N, num_ws, w_dim] → img [N, 3, H, W] float32
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be const, random or none, got {noise_mode!r}")
        x = None
        for i, res in enumerate(self.resolutions):
            x = getattr(self, f"b{res}")(x, ws[:, 2 * i : 2 * i + 2].float(), noise_mode)
        assert x is not None
        return self.torgb(x)


class StyleGAN1Generator(GeneratorBase):
    """StyleGAN1 generator with the StyleGAN2 generator's interface: `G(z, psi)`, `G.mapping`,
    `G.synthesis`, `G.sample(seeds)`, `num_ws`, `z_dim`, `w_dim`, `img_resolution`."""

    architecture = "stylegan1"  # the name model files record (networks/model_file.py)

    def __init__(self, cfg: StyleGAN1Config) -> None:
        super().__init__(cfg)
        self.synthesis = StyleGAN1Synthesis(cfg)
        self.num_ws = self.synthesis.num_ws
        # The shared mapping network, with this model's default truncation cutoff.
        cutoff = cfg.truncation_cutoff
        self.mapping = MappingNetwork(cfg.mapping_config(), self.num_ws, default_cutoff=cutoff)

    mapping: MappingNetwork
    synthesis: StyleGAN1Synthesis
