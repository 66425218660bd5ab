"""TensorFlow StyleGAN1 pickles (`networks_stylegan.G_style`, dnnlib Network state version 3).

The file is a tuple (G, D, Gs) of dnnlib Networks; Gs is the moving average to sample from.
Variables (TF layouts: dense [in, out], conv [k, k, in, out], NCHW activations):

    dlatent_avg, lod                                   G_style's truncation centre, LOD
    mapping/Dense{i}/weight|bias                       8 layers, lr multiplier 0.01
    synthesis/noise{k}                                 [1, 1, R, R], one per layer
    synthesis/4x4/Const/{const, Noise/weight, bias, StyleMod/weight, StyleMod/bias}
    synthesis/4x4/Conv/{weight, Noise/weight, bias, StyleMod/…}
    synthesis/{r}x{r}/Conv0_up|Conv1/{…}               r = 8 … resolution
    synthesis/ToRGB_lod{n}/weight|bias                 n = 0 is the output; others are
                                                       progressive-growing leftovers
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from waifugan.interop.common import (
    ImportedModel,
    TensorSource,
    channel_layout,
    fill_module,
    kwarg,
    log2_int,
    lrmul_fold,
    require,
)
from waifugan.interop.unpickle import TFNetwork
from waifugan.networks.stylegan1 import StyleGAN1Config, StyleGAN1Generator

FORMAT = "tf-stylegan1"
_BLOCK = re.compile(r"^synthesis/(\d+)x\1/")

# G_synthesis / G_mapping keyword arguments that change the network, with the only value
# this converter reproduces (their defaults in networks_stylegan.py).
_FIXED_KWARGS: dict[str, Any] = {
    "use_styles": True,
    "const_input_layer": True,
    "use_noise": True,
    "nonlinearity": "lrelu",
    "use_wscale": True,
    "use_pixel_norm": False,
    "use_instance_norm": True,
    "blur_filter": [1, 2, 1],
    "fmap_decay": 1.0,
    "num_channels": 3,
    "label_size": 0,
    "normalize_latents": True,
    "mapping_nonlinearity": "lrelu",
    "dtype": "float32",
}


def is_stylegan1(net: TFNetwork) -> bool:
    """Whether a dnnlib Network was built by StyleGAN1's G_style."""
    return str(net.state.get("build_func_name")) == "G_style"


def network_kwargs(net: TFNetwork) -> dict[str, Any]:
    """Static kwargs of a Network and its components (the top network's win)."""
    merged: dict[str, Any] = {}
    for comp in net.components.values():
        if isinstance(comp, TFNetwork):
            merged.update(comp.state.get("static_kwargs") or {})
    merged.update(net.state.get("static_kwargs") or {})
    return merged


def _check_kwargs(kwargs: dict[str, Any], source: str) -> None:
    for name, wanted in _FIXED_KWARGS.items():
        value = kwargs.get(name, wanted)
        if isinstance(value, tuple):
            value = list(value)
        if value != wanted:
            raise_unsupported(source, f"{name}={value!r} (waifugan reproduces {wanted!r})")


def raise_unsupported(source: str, what: str) -> None:
    """Refuse a network variant the StyleGAN1 synthesis here does not build."""
    require(False, source, f"unsupported StyleGAN1 variant: {what}")


def _fused_up_res(kwargs: dict[str, Any]) -> int | None:
    fused = kwargs.get("fused_scale", "auto")
    if fused == "auto":
        return 128  # TF: fused when the layer's output is at least 128 px
    return 8 if fused else None


def _config(v: TensorSource, kwargs: dict[str, Any], source: str) -> StyleGAN1Config:
    names = list(v.tensors)
    resolutions = sorted({int(m[1]) for n in names if (m := _BLOCK.match(n))})
    require(resolutions[:1] == [4], source, "no synthesis/4x4 block: not a StyleGAN1 generator")
    resolution = resolutions[-1]
    require(
        kwarg(kwargs, "resolution", resolution) == resolution,
        source,
        f"static kwargs say resolution {kwargs.get('resolution')}, the weights {resolution}",
    )
    depth = sum(1 for n in names if re.fullmatch(r"mapping/Dense\d+/weight", n))
    dense = [v.tensors[f"mapping/Dense{i}/weight"] for i in range(depth)]
    z_dim, w_dim = int(np.shape(dense[0])[0]), int(np.shape(v.tensors["dlatent_avg"])[0])
    for i, w in enumerate(dense):
        expected = (z_dim if i == 0 else w_dim, w_dim)
        require(
            tuple(np.shape(w)) == expected,
            source,
            f"mapping/Dense{i}/weight is {tuple(np.shape(w))}; waifugan's mapping network "
            f"needs {expected} (mapping_fmaps equal to dlatent_size)",
        )
    channels = {4: int(np.shape(v.tensors["synthesis/4x4/Const/const"])[1])}
    for r in resolutions[1:]:
        channels[r] = int(np.shape(v.tensors[f"synthesis/{r}x{r}/Conv1/weight"])[3])
    base, cmax = channel_layout(channels, source)
    psi = kwargs.get("truncation_psi", 0.7)
    cutoff = kwargs.get("truncation_cutoff", 8)
    return StyleGAN1Config(
        img_resolution=resolution,
        z_dim=z_dim,
        w_dim=w_dim,
        map_depth=depth,
        channel_base=base,
        channel_max=cmax,
        fused_up_res=_fused_up_res(kwargs),
        truncation_cutoff=None if psi is None or cutoff is None else int(cutoff),
    )


def _style_layer(
    v: TensorSource, out: dict[str, np.ndarray], tf: str, ours: str, noise: int, conv: bool
) -> None:
    if conv:
        out[f"{ours}.weight"] = v.get(f"{tf}/weight").transpose(3, 2, 0, 1)
    out[f"{ours}.noise_strength"] = v.get(f"{tf}/Noise/weight")
    out[f"{ours}.bias"] = v.get(f"{tf}/bias")
    style_bias = v.get(f"{tf}/StyleMod/bias")
    channels = style_bias.shape[0] // 2
    # TF computes x · (s₀ + 1) + s₁; the 1 lives in our bias (as StyleGAN2's mod_bias + 1).
    out[f"{ours}.style.weight"] = v.get(f"{tf}/StyleMod/weight").T
    out[f"{ours}.style.bias"] = style_bias + np.repeat(np.array([1, 0], np.float32), channels)
    out[f"{ours}.noise_const"] = v.get(f"synthesis/noise{noise}")[0, 0]


def _tensors(v: TensorSource, cfg: StyleGAN1Config, lrmul: float) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {"mapping.w_avg": v.get("dlatent_avg")}
    for i in range(cfg.map_depth):
        weight, bias = lrmul_fold(
            v.get(f"mapping/Dense{i}/weight").T, v.get(f"mapping/Dense{i}/bias"), lrmul
        )
        # TF: lrelu(√2·Wx + b); waifugan's shared mapping: √2·lrelu(Wx + b'), so b' = b / √2.
        out[f"mapping.fc{i}.weight"], out[f"mapping.fc{i}.bias"] = weight, bias / math.sqrt(2)
    out["synthesis.b4.const"] = v.get("synthesis/4x4/Const/const")[0]
    _style_layer(v, out, "synthesis/4x4/Const", "synthesis.b4.conv0", 0, conv=False)
    _style_layer(v, out, "synthesis/4x4/Conv", "synthesis.b4.conv1", 1, conv=True)
    for r in cfg.block_resolutions[1:]:
        layer = 2 * log2_int(r) - 4
        _style_layer(v, out, f"synthesis/{r}x{r}/Conv0_up", f"synthesis.b{r}.conv0", layer, True)
        _style_layer(v, out, f"synthesis/{r}x{r}/Conv1", f"synthesis.b{r}.conv1", layer + 1, True)
    out["synthesis.torgb.weight"] = v.get("synthesis/ToRGB_lod0/weight").transpose(3, 2, 0, 1)
    out["synthesis.torgb.bias"] = v.get("synthesis/ToRGB_lod0/bias")
    return out


def convert_generator(net: TFNetwork, source: str) -> tuple[StyleGAN1Generator, list[str]]:
    """A G_style Network → StyleGAN1Generator (eval, CPU) and notes on what was dropped."""
    kwargs = network_kwargs(net)
    _check_kwargs(kwargs, source)
    v = TensorSource(net.variables(), source)
    for name in ("lod", "synthesis/lod"):
        if name in v:
            lod = float(v.get(name))
            require(
                lod == 0,
                source,
                f"{name} is {lod:g}: a progressive-growing snapshot, not a finished model "
                "(only lod 0 is supported)",
            )
    cfg = _config(v, kwargs, source)
    G = StyleGAN1Generator(cfg).eval().requires_grad_(False)
    fill_module(G, _tensors(v, cfg, float(kwarg(kwargs, "mapping_lrmul", 0.01))), source)
    dropped = v.ignore(lambda n: re.match(r"synthesis/ToRGB_lod[1-9]\d*/", n) is not None)
    v.check_all_used()
    notes = []
    if dropped:
        notes.append(f"dropped {len(dropped) // 2} progressive-growing ToRGB layers (lod ≥ 1)")
    return G, notes


def convert(data: tuple[TFNetwork, ...], source: str, what: str) -> ImportedModel:
    """(G, D, Gs) → ImportedModel; StyleGAN1's D is not imported (waifugan trains StyleGAN2)."""
    G_net, _, Gs_net = data
    G_ema, notes = convert_generator(Gs_net, source)
    kwargs = network_kwargs(Gs_net)
    psi = kwargs.get("truncation_psi", 0.7)
    model = ImportedModel(
        format=FORMAT,
        source=source,
        G_ema=G_ema,
        psi=1.0 if psi is None else float(psi),
        truncation_cutoff=G_ema.cfg.truncation_cutoff,
        notes=notes,
    )
    if what == "G":
        model.G, _ = convert_generator(G_net, source)
    model.notes.append(
        "D not imported: StyleGAN1's progressive discriminator has no waifugan counterpart"
    )
    return model
