"""NVlabs stylegan2-ada-pytorch / stylegan3 (StyleGAN2 config) `network-snapshot-*.pkl` files.

A plain pickle of dict(G, D, G_ema, augment_pipe, training_set_kwargs). Each network is an
NVlabs `torch_utils.persistence` object: `_reconstruct_persistent_obj(meta)` with meta =
{type, version, module_src, class_name, state}, where state is the module's `__dict__`
(`_parameters`, `_buffers`, `_modules` recursively, `_init_args`, `_init_kwargs`). NVlabs
rebuilds the class by executing `module_src`; we read the state and never execute it.

waifugan's parameter names follow NVlabs', so the mapping is nearly one to one: the
`resample_filter` buffers are dropped (waifugan's FIR filter is fixed), Freeze-D layers'
weights (stored as buffers) are read like parameters, and the up-sampling conv0 kernels are
flipped: NVlabs runs that conv as a transposed conv with the kernel as stored, which
correlates the zero-stuffed input with the kernel flipped; waifugan's correlates with it
unflipped, as TensorFlow StyleGAN2 did.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from waifugan.errors import WaifuganError
from waifugan.interop.common import (
    ImportedModel,
    TensorSource,
    build_discriminator,
    build_generator,
    kwarg,
    lrmul_fold,
    require,
)
from waifugan.interop.unpickle import InertObject, PersistentObject
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig

FORMAT = "nvlabs-pytorch"
_UP_CONV = re.compile(r"^synthesis\.b(\d+)\.conv0\.weight$")


def object_state(obj: Any) -> dict[str, Any]:
    """The attribute dict of a persistent or other allowed module object."""
    if isinstance(obj, PersistentObject):
        return obj.state
    if isinstance(obj, InertObject):
        return obj.attributes
    return {}


def flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """name → tensor for every parameter and buffer of a pickled module tree."""
    state = object_state(obj)
    out: dict[str, Any] = {}
    for group in ("_parameters", "_buffers"):
        for name, value in (state.get(group) or {}).items():
            if value is not None:
                out[f"{prefix}{name}"] = value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            out.update(flatten(child, f"{prefix}{name}."))
    return out


def init_kwargs(obj: PersistentObject) -> dict[str, Any]:
    """The constructor keyword arguments NVlabs records on every persistent object."""
    state = obj.state
    found = state.get("_init_kwargs", state.get("init_kwargs"))
    return dict(found) if isinstance(found, dict) else {}


def _sub(kwargs: dict[str, Any], name: str) -> dict[str, Any]:
    value = kwargs.get(name)
    return dict(value) if isinstance(value, dict) else {}


def _refuse_stylegan3(G: PersistentObject, source: str) -> None:
    synthesis = object_state(G).get("_modules", {}).get("synthesis")
    children = set((object_state(synthesis).get("_modules") or {}).keys())
    if "input" in children or any(re.match(r"L\d+_", name) for name in children):
        raise WaifuganError(
            f"{source}: a StyleGAN3 (alias-free, config T/R) generator; waifugan has no "
            "StyleGAN3 synthesis network. StyleGAN2-config pickles from stylegan3 import fine"
        )


def _generator_config(G: PersistentObject, source: str) -> tuple[GeneratorConfig, float]:
    kwargs = init_kwargs(G)
    mapping, synthesis = _sub(kwargs, "mapping_kwargs"), _sub(kwargs, "synthesis_kwargs")
    require(kwarg(kwargs, "c_dim", 0) == 0, source, "a conditional (c_dim > 0) generator")
    require(kwarg(kwargs, "img_channels", 3) == 3, source, "img_channels must be 3 (RGB)")
    for name, wanted in (("architecture", "skip"), ("activation", "lrelu"), ("use_noise", True)):
        value = kwarg(synthesis, name, wanted)
        require(value == wanted, source, f"unsupported synthesis {name}={value!r}")
    filt = list(kwarg(synthesis, "resample_filter", [1, 3, 3, 1]))
    require(filt == [1, 3, 3, 1], source, f"unsupported resample_filter {filt}")
    w_dim = int(kwargs["w_dim"])
    layer_features = kwarg(mapping, "layer_features", w_dim)
    require(layer_features == w_dim, source, f"mapping layer_features {layer_features} != w_dim")
    require(kwarg(mapping, "activation", "lrelu") == "lrelu", source, "mapping activation")
    cfg = GeneratorConfig(
        img_resolution=int(kwargs["img_resolution"]),
        z_dim=int(kwargs["z_dim"]),
        w_dim=w_dim,
        map_depth=int(kwarg(mapping, "num_layers", 8)),
        channel_base=int(kwarg(synthesis, "channel_base", 32768)),
        channel_max=int(kwarg(synthesis, "channel_max", 512)),
        num_fp16_res=int(kwarg(synthesis, "num_fp16_res", 0)),
        conv_clamp=synthesis.get("conv_clamp"),
    )
    return cfg, float(kwarg(mapping, "lr_multiplier", 0.01))


def convert_generator(G: Any, source: str) -> Generator:
    """An NVlabs Generator object → waifugan Generator (eval, CPU)."""
    require(
        isinstance(G, PersistentObject) and G.class_name == "Generator",
        source,
        "G_ema is not an NVlabs Generator object",
    )
    _refuse_stylegan3(G, source)
    try:
        cfg, lrmul = _generator_config(G, source)
    except (KeyError, TypeError, ValueError) as error:
        raise WaifuganError(f"{source}: unreadable generator init_kwargs ({error})") from error
    v = TensorSource(flatten(G), source)
    v.ignore(lambda n: n.endswith("resample_filter"))
    values: dict[str, np.ndarray] = {}
    for name in list(v.tensors):
        if name in v.used:
            continue
        value = v.get(name)
        if _UP_CONV.match(name):
            value = value[:, :, ::-1, ::-1]  # see the module docstring
        values[name] = value
    for i in range(cfg.map_depth):
        weight, bias = f"mapping.fc{i}.weight", f"mapping.fc{i}.bias"
        if weight in values and bias in values:
            values[weight], values[bias] = lrmul_fold(values[weight], values[bias], lrmul)
    return build_generator(cfg, values, source)


def convert_discriminator(D: Any, source: str) -> Discriminator:
    """An NVlabs resnet Discriminator object → waifugan Discriminator."""
    require(
        isinstance(D, PersistentObject) and D.class_name == "Discriminator",
        source,
        "D is not an NVlabs Discriminator object",
    )
    kwargs = init_kwargs(D)
    epilogue = _sub(kwargs, "epilogue_kwargs")
    require(kwarg(kwargs, "c_dim", 0) == 0, source, "a conditional (c_dim > 0) discriminator")
    architecture = kwarg(kwargs, "architecture", "resnet")
    require(architecture == "resnet", source, f"unsupported D architecture {architecture!r}")
    cfg = DiscriminatorConfig(
        img_resolution=int(kwargs["img_resolution"]),
        channel_base=int(kwarg(kwargs, "channel_base", 32768)),
        channel_max=int(kwarg(kwargs, "channel_max", 512)),
        # NVlabs' None means "the whole batch"; waifugan needs a number: NVlabs' default 4.
        mbstd_group_size=int(kwarg(epilogue, "mbstd_group_size", 4)),
        mbstd_num_channels=int(kwarg(epilogue, "mbstd_num_channels", 1)),
        num_fp16_res=int(kwarg(kwargs, "num_fp16_res", 0)),
        conv_clamp=kwargs.get("conv_clamp"),
    )
    v = TensorSource(flatten(D), source)
    v.ignore(lambda n: n.endswith("resample_filter"))
    values = {name: v.get(name) for name in list(v.tensors) if name not in v.used}
    return build_discriminator(cfg, values, source)


def augment_probability(data: dict[str, Any]) -> float | None:
    """ADA's current augmentation probability p, if the file has an augment pipe."""
    p = flatten(data.get("augment_pipe")).get("p")
    return None if p is None else float(np.asarray(p).reshape(-1)[0])


def convert(data: dict[str, Any], source: str, what: str) -> ImportedModel:
    """dict(G, D, G_ema, augment_pipe, training_set_kwargs) → ImportedModel."""
    model = ImportedModel(
        format=FORMAT,
        source=source,
        G_ema=convert_generator(data.get("G_ema"), source),
        psi=1.0,  # NVlabs generate.py's default --trunc
        truncation_cutoff=None,
    )
    if data.get("G") is not None:
        model.G = convert_generator(data["G"], source)
    if data.get("D") is not None:
        model.D = convert_discriminator(data["D"], source)
    p = augment_probability(data)
    if p is not None:
        model.augment_p = p
        model.notes.append(f"ADA augment pipe not imported (its probability p = {p:.3f} is kept)")
    return model
