"""StyleGAN2 generator (config F lineage): mapping network, synthesis network with skip ToRGB.

Parameter names follow the NVlabs layout (`mapping.fc0.weight`,
`synthesis.b64.conv1.affine.weight`, `synthesis.b64.torgb.weight`, ...) so weights from other
StyleGAN2 implementations can be mapped onto ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from waifugan.networks.base import GeneratorBase, PyramidConfig
from waifugan.networks.layers import EqualizedLinear, bias_act, fir_filter, upsample2d
from waifugan.networks.precision import (
    MixedPrecisionBlock,
    fp16_prenormalize,
    fp16_resolutions,
)


@dataclass(frozen=True)
class GeneratorConfig(PyramidConfig):
    """Constructor arguments of the generator; saved as JSON next to its weights."""

    img_resolution: int = 64  # output side in pixels, a power of two ≥ 8
    z_dim: int = 512  # input latent size
    w_dim: int = 512  # intermediate latent size
    map_depth: int = 8  # mapping network layers
    channel_base: int = 32768  # channels at resolution r = min(channel_base / r, channel_max)
    channel_max: int = 512
    num_fp16_res: int = 0  # the highest N resolutions run in FP16 on CUDA (0 = all FP32)
    conv_clamp: float | None = None  # clamp conv outputs to ±this (needed with FP16)
    # Per-pixel noise inputs. Off for flat-shaded art at small budgets: a 64 px run used the
    # 64 px noise to imitate outlines and covered every face in grain (benchmarks/RESULTS.md).
    use_noise: bool = True

    def __post_init__(self) -> None:
        self.check_resolution()


# StyleGAN's lr multiplier of the mapping layers, baked into how their weights are stored (so
# model files and importers share one convention); a run that trains the mapping faster scales
# its Adam learning rate instead (train/setup.py), which Adam makes equivalent.
MAPPING_LR_MULTIPLIER = 0.01


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row to unit root-mean-square (the 'pixel norm' applied to z)."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """z → w through `map_depth` equalized FC layers (lr multiplier 0.01 as stored, StyleGAN)."""

    w_avg: torch.Tensor  # [w_dim] running mean of w: the centre of the truncation trick

    def __init__(
        self,
        cfg: GeneratorConfig,
        num_ws: int,
        w_avg_beta: float = 0.995,
        default_cutoff: int | None = None,  # ws the truncation trick moves unless told; None: all
    ) -> None:
        super().__init__()
        self.num_ws = num_ws
        self.w_avg_beta = w_avg_beta
        self.default_cutoff = default_cutoff
        dims = [cfg.z_dim] + [cfg.w_dim] * cfg.map_depth
        for i in range(cfg.map_depth):
            layer = EqualizedLinear(dims[i], dims[i + 1], activation="lrelu",
                                   lr_multiplier=MAPPING_LR_MULTIPLIER)  # fmt: skip
            setattr(self, f"fc{i}", layer)
        self.layers = [getattr(self, f"fc{i}") for i in range(cfg.map_depth)]
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def forward(
        self,
        z: torch.Tensor,  # [N, z_dim]
        psi: float | torch.Tensor = 1.0,  # a number, or one per row as [N, 1, 1]
        truncation_cutoff: int | None = None,
        update_w_avg: bool = False,
    ) -> torch.Tensor:  # [N, num_ws, w_dim]
        x = normalize_2nd_moment(z.float())
        for layer in self.layers:
            x = layer(x)
        if update_w_avg:
            self.update_w_avg(x.detach().mean(dim=0))
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if isinstance(psi, torch.Tensor) or psi != 1:  # the truncation trick (StyleGAN §4)
            cutoff = self.default_cutoff if truncation_cutoff is None else truncation_cutoff
            cutoff = self.num_ws if cutoff is None else cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], psi)
        return ws

    @torch.no_grad()
    def update_w_avg(self, w_mean: torch.Tensor) -> None:  # [w_dim]
        """Move the running mean of w towards a batch's mean w (decay w_avg_beta per call)."""
        self.w_avg.copy_(w_mean.to(self.w_avg.dtype).lerp(self.w_avg, self.w_avg_beta))


def modulated_conv2d(
    x: torch.Tensor,  # [N, C_in, H, W]
    weight: torch.Tensor,  # [C_out, C_in, k, k], already scaled by the equalized-LR gain
    styles: torch.Tensor,  # [N, C_in]
    demodulate: bool = True,
    up: bool = False,
) -> torch.Tensor:  # [N, C_out, H or 2H, W or 2W]
    """Style-modulated conv with optional demodulation and 2x up-sampling.

    Implementation choice: instead of building one weight per sample and running a grouped
    conv (NVlabs' fused_modconv), we scale the input activations by the styles, run one
    ordinary batched conv with the shared weight, and scale the output by the demodulation
    coefficients. It is mathematically identical, works unchanged under autocast FP16 and
    channels_last, and is what NVlabs also trains with. Measured speeds of both paths on this
    CPU are in benchmarks/RESULTS.md (bench_train.py, "modulated conv" table).

    weight and styles stay float32; x may be FP16/BF16 (mixed precision, networks/precision.py).
    """
    weight, styles = weight.float(), styles.float()
    if demodulate and x.dtype == torch.float16:
        weight, styles = fp16_prenormalize(weight, styles)  # cancelled by the demodulation
    x = x * styles.to(x.dtype).reshape(*styles.shape, 1, 1)
    if up:
        # Transposed conv (stride 2) costs 1/4 of a conv at the doubled size; the FIR filter
        # afterwards removes the aliasing: (2H+1) + 2 - 3 = 2H.
        w_t = weight.transpose(0, 1).flip(2, 3).to(x.dtype)
        x = fir_filter(F.conv_transpose2d(x, w_t, stride=2), (1, 1)) * 4
    else:
        x = F.conv2d(x, weight.to(x.dtype), padding=weight.shape[-1] // 2)
    if demodulate:
        # Output std if inputs had unit variance: sqrt(sum over C_in,k,k of (w * s)^2).
        dcoefs = weight.square().sum(dim=[2, 3]).unsqueeze(0) * styles.square().unsqueeze(1)
        dcoefs = (dcoefs.sum(dim=2) + 1e-8).rsqrt()  # [N, C_out]
        x = x * dcoefs.to(x.dtype).reshape(*dcoefs.shape, 1, 1)
    return x


class SynthesisLayer(nn.Module):
    """Modulated 3x3 conv + per-pixel noise with learned strength + bias + leaky ReLU."""

    noise_const: torch.Tensor  # [R, R] fixed noise for noise_mode="const"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        up: bool = False,
        conv_clamp: float | None = None,
        use_noise: bool = True,
    ) -> None:
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 3, 3))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.use_noise = use_noise
        if use_noise:
            self.noise_strength = nn.Parameter(torch.zeros([]))
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
        self.up = up
        self.resolution = resolution
        self.conv_clamp = conv_clamp
        self.weight_gain = 1 / math.sqrt(in_channels * 9)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight * self.weight_gain, self.affine(w), up=self.up)
        if not self.use_noise:
            pass
        elif noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device)
            x = x + (noise * self.noise_strength).to(x.dtype)
        elif noise_mode == "const":
            x = x + (self.noise_const * self.noise_strength).to(x.dtype)
        return bias_act(x, self.bias, "lrelu", clamp=self.conv_clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation (the skip generator's outputs)."""

    def __init__(self, in_channels: int, w_dim: int, conv_clamp: float | None = None) -> None:
        super().__init__()
        self.affine = EqualizedLinear(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(3, in_channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(3))
        self.conv_clamp = conv_clamp
        self.weight_gain = 1 / math.sqrt(in_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias, "linear", clamp=self.conv_clamp)


class SynthesisBlock(MixedPrecisionBlock):
    """One resolution: (const | up-conv0) → conv1 → ToRGB added to the up-sampled image."""

    def __init__(self, cfg: GeneratorConfig, resolution: int, use_fp16: bool) -> None:
        super().__init__(use_fp16)
        self.resolution = resolution
        out_ch = cfg.channels(resolution)
        clamp = cfg.conv_clamp
        if resolution == 4:
            self.const = nn.Parameter(torch.randn(out_ch, 4, 4))
        else:
            in_ch = cfg.channels(resolution // 2)
            self.conv0 = SynthesisLayer(
                in_ch, out_ch, cfg.w_dim, resolution, True, clamp, cfg.use_noise
            )
        self.conv1 = SynthesisLayer(
            out_ch, out_ch, cfg.w_dim, resolution, False, clamp, cfg.use_noise
        )
        self.torgb = ToRGBLayer(out_ch, cfg.w_dim, clamp)
        self.num_conv = 1 if resolution == 4 else 2

    def forward(
        self,
        x: torch.Tensor | None,  # [N, C, R/2, R/2] features, None for the 4x4 block
        img: torch.Tensor | None,  # [N, 3, R/2, R/2] float32, None for the 4x4 block
        ws: torch.Tensor,  # [N, num_conv + 1, w_dim]
        noise_mode: str,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Activations in the block's dtype; styles (affine of ws) and the image stay float32.
        if x is None:
            x = self.to_compute(self.const.unsqueeze(0).repeat(ws.shape[0], 1, 1, 1))
            x = self.conv1(x, ws[:, 0], noise_mode)
        else:
            x = self.conv0(self.to_compute(x), ws[:, 0], noise_mode)
            x = self.conv1(x, ws[:, 1], noise_mode)
        y = self.torgb(x, ws[:, self.num_conv]).float()
        img = y if img is None else upsample2d(img) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws → image through blocks b4 ... b{img_resolution}."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.resolutions = cfg.block_resolutions
        fp16_res = fp16_resolutions(cfg.img_resolution, cfg.num_fp16_res)
        self.num_ws = 0
        for res in self.resolutions:
            block = SynthesisBlock(cfg, res, use_fp16=res in fp16_res)
            setattr(self, f"b{res}", block)
            self.num_ws += block.num_conv
        self.num_ws += 1  # the last ToRGB; the others share their w with the next conv0

    def forward(
        self, ws: torch.Tensor, noise_mode: str = "const"
    ) -> torch.Tensor:  # ws [N, num_ws, w_dim] → img [N, 3, H, W] float32
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be const, random or none, got {noise_mode!r}")
        x = img = None
        w_idx = 0
        for res in self.resolutions:
            block: SynthesisBlock = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_idx, block.num_conv + 1)
            x, img = block(x, img, block_ws, noise_mode)
            w_idx += block.num_conv
        assert img is not None
        return img


class Generator(GeneratorBase):
    """StyleGAN2 generator: `G(z, psi)` → images, `G.sample(seeds)` → uint8 pixels."""

    architecture = "stylegan2"  # the name model files record (networks/model_file.py)
    mapping: MappingNetwork
    synthesis: SynthesisNetwork

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__(cfg)
        self.synthesis = SynthesisNetwork(cfg)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(cfg, self.num_ws)


def mix_ws(ws_a: torch.Tensor, ws_b: torch.Tensor, cutoff: int) -> torch.Tensor:
    """Style mixing: layers [0, cutoff) from ws_a, layers [cutoff, num_ws) from ws_b."""
    mixed = ws_a.clone()
    mixed[:, cutoff:] = ws_b[:, cutoff:]
    return mixed
