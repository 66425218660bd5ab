"""TensorFlow StyleGAN2 / StyleGAN2-ADA pickles (`networks_stylegan2.G_main`, Network version 4).

The file is a tuple (G, D, Gs) of dnnlib Networks. Generator variables (TF layouts):

    dlatent_avg                                 truncation centre
    mapping/Dense{i}/weight [in, out] | bias    lr multiplier 0.01
    synthesis/noise{k} [1, 1, R, R]
    synthesis/4x4/Const/const [1, C, 4, 4]
    synthesis/{r}x{r}/Conv0_up|Conv1|Conv/{weight [k,k,in,out], bias, noise_strength,
                                          mod_weight [w, in], mod_bias}  (+1 at run time)
    synthesis/{r}x{r}/ToRGB/{weight, bias, mod_weight, mod_bias}

TF's up-sampling conv correlates with the stored kernel exactly as waifugan's does, so no
flip is needed here (NVlabs' PyTorch port flips it; see nvlabs_pytorch.py). The
discriminator (`D_stylegan2`, resnet) maps name for name onto waifugan's.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from waifugan.interop.common import (
    ImportedModel,
    TensorSource,
    build_discriminator,
    build_generator,
    channel_layout,
    kwarg,
    log2_int,
    lrmul_fold,
    require,
)
from waifugan.interop.tf_stylegan1 import network_kwargs
from waifugan.interop.unpickle import TFNetwork
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig

FORMAT = "tf-stylegan2"
_G_BLOCK = re.compile(r"^synthesis/(\d+)x\1/")
_D_BLOCK = re.compile(r"^(\d+)x\1/")

_FIXED_KWARGS: dict[str, Any] = {
    "architecture": "skip",
    "nonlinearity": "lrelu",
    "resample_kernel": [1, 3, 3, 1],
    "num_channels": 3,
    "label_size": 0,
    "normalize_latents": True,
    "mapping_nonlinearity": "lrelu",
    "fmap_decay": 1.0,
}


def check_kwargs(kwargs: dict[str, Any], fixed: dict[str, Any], source: str) -> None:
    """Refuse variants whose keyword arguments change the network beyond what we build."""
    for name, wanted in fixed.items():
        value = kwargs.get(name, wanted)
        value = list(value) if isinstance(value, tuple) else value
        require(value == wanted, source, f"unsupported variant: {name}={value!r} (need {wanted!r})")


def _generator_config(v: TensorSource, kwargs: dict[str, Any], source: str) -> GeneratorConfig:
    names = list(v.tensors)
    require(
        not any("ToRGB_lod" in n or n.endswith("/Skip/weight") for n in names),
        source,
        "a StyleGAN2 generator with the 'orig' or 'resnet' architecture; only 'skip' "
        "(config F, the default) is supported",
    )
    resolutions = sorted({int(m[1]) for n in names if (m := _G_BLOCK.match(n))})
    require(resolutions[:1] == [4], source, "no synthesis/4x4 block: not a StyleGAN2 generator")
    depth = sum(1 for n in names if re.fullmatch(r"mapping/Dense\d+/weight", n))
    channels = {4: int(np.shape(v.tensors["synthesis/4x4/Const/const"])[1])}
    for r in resolutions[1:]:
        channels[r] = int(np.shape(v.tensors[f"synthesis/{r}x{r}/Conv1/weight"])[3])
    base, cmax = channel_layout(channels, source)
    return GeneratorConfig(
        img_resolution=resolutions[-1],
        z_dim=int(np.shape(v.tensors["mapping/Dense0/weight"])[0]),
        w_dim=int(np.shape(v.tensors["dlatent_avg"])[0]),
        map_depth=depth,
        channel_base=base,
        channel_max=cmax,
        num_fp16_res=int(kwarg(kwargs, "num_fp16_res", 0)),
        conv_clamp=kwargs.get("conv_clamp"),
    )


def _modconv(v: TensorSource, out: dict, tf: str, ours: str, noise: int | None) -> None:
    out[f"{ours}.weight"] = v.get(f"{tf}/weight").transpose(3, 2, 0, 1)
    out[f"{ours}.bias"] = v.get(f"{tf}/bias")
    out[f"{ours}.affine.weight"] = v.get(f"{tf}/mod_weight").T
    out[f"{ours}.affine.bias"] = v.get(f"{tf}/mod_bias") + 1  # TF adds the 1 at run time
    if noise is not None:
        out[f"{ours}.noise_strength"] = v.get(f"{tf}/noise_strength")
        out[f"{ours}.noise_const"] = v.get(f"synthesis/noise{noise}")[0, 0]


def generator_values(v: TensorSource, cfg: GeneratorConfig, lrmul: float) -> dict:
    """waifugan Generator state (names → arrays) from TF StyleGAN2 variables."""
    out: dict[str, np.ndarray] = {"mapping.w_avg": v.get("dlatent_avg")}
    for i in range(cfg.map_depth):
        weight, bias = v.get(f"mapping/Dense{i}/weight").T, v.get(f"mapping/Dense{i}/bias")
        out[f"mapping.fc{i}.weight"], out[f"mapping.fc{i}.bias"] = lrmul_fold(weight, bias, lrmul)
    out["synthesis.b4.const"] = v.get("synthesis/4x4/Const/const")[0]
    _modconv(v, out, "synthesis/4x4/Conv", "synthesis.b4.conv1", 0)
    _modconv(v, out, "synthesis/4x4/ToRGB", "synthesis.b4.torgb", None)
    for r in cfg.block_resolutions[1:]:
        tf, ours, layer = f"synthesis/{r}x{r}", f"synthesis.b{r}", 2 * log2_int(r) - 5
        _modconv(v, out, f"{tf}/Conv0_up", f"{ours}.conv0", layer)
        _modconv(v, out, f"{tf}/Conv1", f"{ours}.conv1", layer + 1)
        _modconv(v, out, f"{tf}/ToRGB", f"{ours}.torgb", None)
    return out


def convert_generator(net: TFNetwork, source: str) -> Generator:
    """A G_main Network → waifugan Generator (eval, CPU)."""
    kwargs = network_kwargs(net)
    check_kwargs(kwargs, _FIXED_KWARGS, source)
    synthesis = net.components.get("synthesis")
    func = synthesis.state.get("build_func_name") if isinstance(synthesis, TFNetwork) else None
    require(
        func in (None, "G_synthesis_stylegan2"),
        source,
        f"synthesis network {func!r}; only G_synthesis_stylegan2 (config E/F) is supported",
    )
    v = TensorSource(net.variables(), source)
    cfg = _generator_config(v, kwargs, source)
    values = generator_values(v, cfg, float(kwarg(kwargs, "mapping_lrmul", 0.01)))
    G = build_generator(cfg, values, source)
    v.ignore(lambda n: n in ("lod", "synthesis/lod"))  # progressive-growing LOD: unused here
    v.check_all_used()
    return G


def _conv(v: TensorSource, out: dict, tf: str, ours: str, bias: bool = True) -> None:
    out[f"{ours}.weight"] = v.get(f"{tf}/weight").transpose(3, 2, 0, 1)
    if bias:
        out[f"{ours}.bias"] = v.get(f"{tf}/bias")


def _dense(v: TensorSource, out: dict, tf: str, ours: str) -> None:
    out[f"{ours}.weight"], out[f"{ours}.bias"] = v.get(f"{tf}/weight").T, v.get(f"{tf}/bias")


def convert_discriminator(net: TFNetwork, source: str) -> Discriminator:
    """A D_stylegan2 (resnet) Network → waifugan Discriminator."""
    kwargs = dict(net.state.get("static_kwargs") or {})
    fixed = {"architecture": "resnet", "nonlinearity": "lrelu", "label_size": 0}
    check_kwargs(kwargs, {**fixed, "resample_kernel": [1, 3, 3, 1]}, source)
    v = TensorSource(net.variables(), source)
    resolutions = sorted({int(m[1]) for n in v.tensors if (m := _D_BLOCK.match(n))})
    top = resolutions[-1]
    channels = {4: int(np.shape(v.tensors["4x4/Conv/weight"])[3])}
    channels.update(
        {r: int(np.shape(v.tensors[f"{r}x{r}/Conv0/weight"])[3]) for r in resolutions[1:]}
    )
    base, cmax = channel_layout(channels, source)
    cfg = DiscriminatorConfig(
        img_resolution=top,
        channel_base=base,
        channel_max=cmax,
        mbstd_group_size=int(kwarg(kwargs, "mbstd_group_size", 4)),
        mbstd_num_channels=int(kwarg(kwargs, "mbstd_num_features", 1)),
        num_fp16_res=int(kwarg(kwargs, "num_fp16_res", 0)),
        conv_clamp=kwargs.get("conv_clamp"),
    )
    out: dict[str, np.ndarray] = {}
    _conv(v, out, f"{top}x{top}/FromRGB", f"b{top}.fromrgb")
    for r in resolutions[1:]:
        _conv(v, out, f"{r}x{r}/Conv0", f"b{r}.conv0")
        _conv(v, out, f"{r}x{r}/Conv1_down", f"b{r}.conv1")
        _conv(v, out, f"{r}x{r}/Skip", f"b{r}.skip", bias=False)
    _conv(v, out, "4x4/Conv", "b4.conv")
    _dense(v, out, "4x4/Dense0", "b4.fc")
    _dense(v, out, "Output", "b4.out")
    D = build_discriminator(cfg, out, source)
    v.check_all_used()
    return D


def convert(data: tuple[TFNetwork, ...], source: str, what: str) -> ImportedModel:
    """(G, D, Gs) → ImportedModel with G_ema, G and D."""
    G_net, D_net, Gs_net = data
    kwargs = network_kwargs(Gs_net)
    psi = kwargs.get("truncation_psi", 0.5)  # G_main's default
    return ImportedModel(
        format=FORMAT,
        source=source,
        G_ema=convert_generator(Gs_net, source),
        G=convert_generator(G_net, source),
        D=convert_discriminator(D_net, source),
        psi=1.0 if psi is None else float(psi),
        truncation_cutoff=kwargs.get("truncation_cutoff"),
    )
