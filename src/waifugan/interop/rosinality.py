"""rosinality/stylegan2-pytorch `.pt` checkpoints: dict(g, d, g_ema, g_optim, d_optim, args, ...).

`torch.save` files whose `args` is an argparse.Namespace (read as an inert stand-in, so
`torch.load(weights_only=True)` is not enough and SafeUnpickler reads them). Generator
names (StyleGAN2 config F, skip):

    style.{i}.weight|bias               mapping layer i-1 (style.0 is the pixel norm)
    input.input [1, C, 4, 4]            the learned constant
    conv1.*, to_rgb1.*                  the 4x4 block
    convs.{2k}.*, convs.{2k+1}.*        up-sampling conv0 and conv1 of block 8·2^k
    to_rgbs.{k}.*                       that block's ToRGB
    *.conv.weight [1, out, in, k, k]    *.conv.modulation.weight|bias (bias holds the +1)
    *.noise.weight [1], *.activate.bias noise strength, bias before the leaky ReLU
    noises.noise_{i} [1, 1, R, R]       fixed noise per layer

Like NVlabs, rosinality's up-sampling conv is a transposed conv with the kernel as stored,
so those kernels are flipped for waifugan. Training checkpoints carry no w_avg; it is then
estimated as the mean of 10,000 mapped z (as rosinality's `mean_latent` does, with 4,096).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from waifugan.interop.common import (
    ImportedModel,
    TensorSource,
    build_discriminator,
    build_generator,
    channel_layout,
    log2_int,
    require,
)
from waifugan.interop.unpickle import InertObject
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig

FORMAT = "rosinality"
W_AVG_SAMPLES = 10_000
_KERNEL_BUFFER = re.compile(r"\.(blur|upsample)\.kernel$|\.0\.kernel$")


def _generator_config(v: TensorSource, source: str) -> GeneratorConfig:
    names = v.tensors
    depth = sum(1 for n in names if re.fullmatch(r"style\.\d+\.weight", n))
    num_convs = sum(1 for n in names if re.fullmatch(r"convs\.\d+\.conv\.weight", n))
    require(depth > 0 and "input.input" in names, source, "g_ema is not a StyleGAN2 generator")
    require(num_convs % 2 == 0, source, f"{num_convs} convs: expected two per block")
    channels = {4: int(np.shape(names["input.input"])[1])}
    for k in range(num_convs // 2):
        channels[8 * 2**k] = int(np.shape(names[f"convs.{2 * k + 1}.conv.weight"])[1])
    base, cmax = channel_layout(channels, source)
    z_dim = int(np.shape(names["style.1.weight"])[1])
    return GeneratorConfig(
        img_resolution=max(channels),
        z_dim=z_dim,
        w_dim=int(np.shape(names[f"style.{depth}.weight"])[0]),
        map_depth=depth,
        channel_base=base,
        channel_max=cmax,
    )


def _styled(v: TensorSource, out: dict, ours: str, theirs: str, noise: int, up: bool) -> None:
    weight = v.get(f"{theirs}.conv.weight")[0]
    out[f"{ours}.weight"] = weight[:, :, ::-1, ::-1] if up else weight  # see the docstring
    out[f"{ours}.affine.weight"] = v.get(f"{theirs}.conv.modulation.weight")
    out[f"{ours}.affine.bias"] = v.get(f"{theirs}.conv.modulation.bias")
    out[f"{ours}.noise_strength"] = v.get(f"{theirs}.noise.weight").reshape(())
    out[f"{ours}.bias"] = v.get(f"{theirs}.activate.bias")
    out[f"{ours}.noise_const"] = v.get(f"noises.noise_{noise}")[0, 0]


def _torgb(v: TensorSource, out: dict, ours: str, theirs: str) -> None:
    out[f"{ours}.weight"] = v.get(f"{theirs}.conv.weight")[0]
    out[f"{ours}.affine.weight"] = v.get(f"{theirs}.conv.modulation.weight")
    out[f"{ours}.affine.bias"] = v.get(f"{theirs}.conv.modulation.bias")
    out[f"{ours}.bias"] = v.get(f"{theirs}.bias").reshape(-1)


def convert_generator(state: Any, source: str, w_avg: Any = None) -> tuple[Generator, list[str]]:
    """A rosinality Generator state dict → waifugan Generator and notes."""
    require(isinstance(state, dict), source, "g_ema is not a state dict")
    v = TensorSource(state, source)
    cfg = _generator_config(v, source)
    out: dict[str, np.ndarray] = {}
    for i in range(cfg.map_depth):
        out[f"mapping.fc{i}.weight"] = v.get(f"style.{i + 1}.weight")
        out[f"mapping.fc{i}.bias"] = v.get(f"style.{i + 1}.bias")
    out["synthesis.b4.const"] = v.get("input.input")[0]
    _styled(v, out, "synthesis.b4.conv1", "conv1", 0, up=False)
    _torgb(v, out, "synthesis.b4.torgb", "to_rgb1")
    for k, r in enumerate(cfg.block_resolutions[1:]):
        layer = 2 * log2_int(r) - 5
        _styled(v, out, f"synthesis.b{r}.conv0", f"convs.{2 * k}", layer, up=True)
        _styled(v, out, f"synthesis.b{r}.conv1", f"convs.{2 * k + 1}", layer + 1, up=False)
        _torgb(v, out, f"synthesis.b{r}.torgb", f"to_rgbs.{k}")
    v.ignore(lambda n: _KERNEL_BUFFER.search(n) is not None)  # fixed blur kernels
    v.check_all_used()
    notes = []
    if w_avg is None:
        out["mapping.w_avg"] = np.zeros(cfg.w_dim, np.float32)
        G = build_generator(cfg, out, source)
        G.mapping.w_avg.copy_(estimate_w_avg(G))
        notes.append(
            f"no latent_avg in the file: w_avg estimated from {W_AVG_SAMPLES:,} z (seed 0)"
        )
    else:
        out["mapping.w_avg"] = np.asarray(w_avg, np.float32).reshape(-1)
        G = build_generator(cfg, out, source)
    return G, notes


@torch.no_grad()
def estimate_w_avg(G: Generator) -> torch.Tensor:
    """Mean of w over W_AVG_SAMPLES standard-normal z (seeded: the same file, the same w_avg)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(W_AVG_SAMPLES, G.z_dim, generator=gen)
    return torch.cat([G.mapping(chunk)[:, 0] for chunk in z.split(1000)]).mean(dim=0)


def _conv(v: TensorSource, out: dict, ours: str, weight: str, bias: str | None) -> None:
    out[f"{ours}.weight"] = v.get(weight)
    if bias is not None:
        out[f"{ours}.bias"] = v.get(bias)


def convert_discriminator(state: Any, source: str, mbstd_group: int = 4) -> Discriminator:
    """A rosinality Discriminator state dict → waifugan Discriminator."""
    require(isinstance(state, dict), source, "d is not a state dict")
    v = TensorSource(state, source)
    blocks = sum(1 for n in v.tensors if re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", n))
    top = 4 * 2**blocks
    channels = {4: int(np.shape(v.tensors["final_conv.0.weight"])[0])}
    for i in range(1, blocks + 1):
        channels[top // 2 ** (i - 1)] = int(np.shape(v.tensors[f"convs.{i}.conv1.0.weight"])[0])
    base, cmax = channel_layout(channels, source)
    out: dict[str, np.ndarray] = {}
    _conv(v, out, f"b{top}.fromrgb", "convs.0.0.weight", "convs.0.1.bias")
    for i in range(1, blocks + 1):
        r, c = top // 2 ** (i - 1), f"convs.{i}"
        _conv(v, out, f"b{r}.conv0", f"{c}.conv1.0.weight", f"{c}.conv1.1.bias")
        _conv(v, out, f"b{r}.conv1", f"{c}.conv2.1.weight", f"{c}.conv2.2.bias")
        _conv(v, out, f"b{r}.skip", f"{c}.skip.1.weight", None)
    _conv(v, out, "b4.conv", "final_conv.0.weight", "final_conv.1.bias")
    _conv(v, out, "b4.fc", "final_linear.0.weight", "final_linear.0.bias")
    _conv(v, out, "b4.out", "final_linear.1.weight", "final_linear.1.bias")
    v.ignore(lambda n: _KERNEL_BUFFER.search(n) is not None)
    v.check_all_used()
    cfg = DiscriminatorConfig(
        img_resolution=top, channel_base=base, channel_max=cmax, mbstd_group_size=mbstd_group
    )
    return build_discriminator(cfg, out, source)


def convert(data: dict[str, Any], source: str, what: str) -> ImportedModel:
    """dict(g_ema, g, d, args, ...) → ImportedModel."""
    w_avg = data.get("latent_avg")
    G_ema, notes = convert_generator(data["g_ema"], f"{source} (g_ema)", w_avg)
    model = ImportedModel(
        format=FORMAT, source=source, G_ema=G_ema, psi=1.0, truncation_cutoff=None, notes=notes
    )
    if data.get("g") is not None:
        model.G, _ = convert_generator(data["g"], f"{source} (g)", G_ema.mapping.w_avg)
    if data.get("d") is not None:
        model.D = convert_discriminator(data["d"], f"{source} (d)")
    args = data.get("args")
    if isinstance(args, InertObject):
        size = args.attributes.get("size")
        require(
            size in (None, G_ema.img_resolution),
            source,
            f"args.size {size} differs from the weights' {G_ema.img_resolution} px",
        )
    if "ada_aug_p" in data:
        model.augment_p = float(data["ada_aug_p"])
    return model
