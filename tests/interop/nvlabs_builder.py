"""NVlabs stylegan2-ada-pytorch `network-snapshot-*.pkl` files, built the way NVlabs writes them.

`pickle.dump(dict(G, D, G_ema, augment_pipe, training_set_kwargs))` where every network is a
`torch_utils.persistence` object reduced to `_reconstruct_persistent_obj(meta)`, meta =
dict(type='class', version=6, module_src=<source text>, class_name=..., state=<__dict__>).
Weights come from TensorFlow StyleGAN2 variables through the transforms NVlabs' legacy.py
documents (transpose, +1 on modulation biases, and the up-sampling conv kernel flipped), so
the NumPy reference on the TF variables gives the images NVlabs would draw.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.interop.foreign import EasyDict, dump

VERSION = 6
# The embedded module source. The importer must never execute it; if it did, the marker
# file would appear.
MODULE_SRC = "import pathlib\npathlib.Path({marker!r}).write_text('executed')\n"


class Persistent:
    """Pickles as torch_utils.persistence._reconstruct_persistent_obj(meta)."""

    def __init__(self, meta: dict[str, Any]) -> None:
        self.meta = meta

    def __reduce__(self) -> tuple[Any, ...]:
        return (_reconstruct_persistent_obj, (self.meta,))


def _reconstruct_persistent_obj(meta: dict[str, Any]) -> Any:  # only its name is pickled
    raise AssertionError("never called")


def module(
    class_name: str,
    marker: Path,
    params: dict[str, np.ndarray] | None = None,
    buffers: dict[str, np.ndarray] | None = None,
    children: dict[str, Persistent] | None = None,
    init_kwargs: dict[str, Any] | None = None,
    **attrs: Any,
) -> Persistent:
    """A persistent torch.nn.Module as NVlabs pickles it: its __dict__ as `state`."""
    state: dict[str, Any] = {
        "training": False,
        "_parameters": collections.OrderedDict(
            (k, torch.nn.Parameter(torch.from_numpy(np.array(v, order="C")), False))
            for k, v in (params or {}).items()
        ),
        "_buffers": collections.OrderedDict(
            (k, torch.from_numpy(np.array(v, order="C"))) for k, v in (buffers or {}).items()
        ),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": collections.OrderedDict(),
        "_forward_hooks": collections.OrderedDict(),
        "_forward_pre_hooks": collections.OrderedDict(),
        "_state_dict_hooks": collections.OrderedDict(),
        "_load_state_dict_pre_hooks": collections.OrderedDict(),
        "_modules": collections.OrderedDict(children or {}),
        "_init_args": (),
        "_init_kwargs": init_kwargs or {},
        **attrs,
    }
    meta = dict(type="class", version=VERSION, module_src=MODULE_SRC.format(marker=str(marker)),
                class_name=class_name, state=state)  # fmt: skip
    return Persistent(meta)


_FILTER = (np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0).astype(np.float32)


def _fc(
    v: dict, tf: str, marker: Path, activation: str = "linear", lrmul: float = 1.0
) -> Persistent:
    return module(
        "FullyConnectedLayer", marker,
        params={"weight": v[f"{tf}/weight"].T, "bias": v[f"{tf}/bias"]},
        activation=activation, lr_multiplier=lrmul,
    )  # fmt: skip


def _affine(v: dict, tf: str, marker: Path) -> Persistent:
    return module(
        "FullyConnectedLayer", marker,
        params={"weight": v[f"{tf}/mod_weight"].T, "bias": v[f"{tf}/mod_bias"] + 1},
    )  # fmt: skip


def _layer(v: dict, tf: str, noise: str, marker: Path, up: bool) -> Persistent:
    weight = v[f"{tf}/weight"]
    if up:
        weight = weight[::-1, ::-1]  # legacy.py: the Conv0_up kernel flipped for PyTorch
    return module(
        "SynthesisLayer", marker,
        params={"weight": weight.transpose(3, 2, 0, 1), "noise_strength": v[f"{tf}/noise_strength"],
                "bias": v[f"{tf}/bias"]},
        buffers={"resample_filter": _FILTER, "noise_const": v[noise][0, 0]},
        children={"affine": _affine(v, tf, marker)}, up=2 if up else 1, activation="lrelu",
    )  # fmt: skip


def _torgb(v: dict, tf: str, marker: Path) -> Persistent:
    return module(
        "ToRGBLayer", marker,
        params={"weight": v[f"{tf}/weight"].transpose(3, 2, 0, 1), "bias": v[f"{tf}/bias"]},
        children={"affine": _affine(v, tf, marker)},
    )  # fmt: skip


def generator(v: dict, marker: Path, kwargs: dict[str, Any]) -> Persistent:
    """An NVlabs Generator from TF StyleGAN2 variables (flattened names)."""
    depth = sum(1 for k in v if k.startswith("mapping/Dense") and k.endswith("/weight"))
    fcs = {f"fc{i}": _fc(v, f"mapping/Dense{i}", marker, "lrelu", 0.01) for i in range(depth)}
    mapping = module("MappingNetwork", marker, buffers={"w_avg": v["dlatent_avg"]}, children=fcs)
    blocks = {}
    res, s = 4, "synthesis"
    while f"{s}/{res}x{res}/Conv1/weight" in v or res == 4:
        log2 = int(np.log2(res))
        tf = f"{s}/{res}x{res}"
        if res == 4:
            children = {"conv1": _layer(v, f"{tf}/Conv", f"{s}/noise0", marker, False)}
            params = {"const": v[f"{tf}/Const/const"][0]}
        else:
            children = {
                "conv0": _layer(v, f"{tf}/Conv0_up", f"{s}/noise{2 * log2 - 5}", marker, True),
                "conv1": _layer(v, f"{tf}/Conv1", f"{s}/noise{2 * log2 - 4}", marker, False),
            }
            params = {}
        children["torgb"] = _torgb(v, f"{tf}/ToRGB", marker)
        blocks[f"b{res}"] = module(
            "SynthesisBlock", marker, params=params, buffers={"resample_filter": _FILTER},
            children=children, resolution=res, architecture="skip",
        )  # fmt: skip
        res *= 2
    synthesis = module("SynthesisNetwork", marker, children=blocks)
    return module(
        "Generator", marker, children={"mapping": mapping, "synthesis": synthesis},
        init_kwargs=kwargs, z_dim=kwargs["z_dim"], c_dim=0, w_dim=kwargs["w_dim"],
        img_resolution=kwargs["img_resolution"], img_channels=3,
    )  # fmt: skip


def _conv(v: dict, tf: str, marker: Path, bias: bool = True, frozen: bool = False) -> Persistent:
    tensors = {"weight": v[f"{tf}/weight"].transpose(3, 2, 0, 1)}
    if bias:
        tensors["bias"] = v[f"{tf}/bias"]
    if frozen:  # Freeze-D: NVlabs registers frozen layers' weights as buffers
        return module("Conv2dLayer", marker, buffers={**tensors, "resample_filter": _FILTER})
    return module("Conv2dLayer", marker, params=tensors, buffers={"resample_filter": _FILTER})


def discriminator(v: dict, marker: Path, kwargs: dict[str, Any]) -> Persistent:
    """An NVlabs resnet Discriminator from TF D_stylegan2 variables; the first block frozen."""
    top = kwargs["img_resolution"]
    blocks = {}
    res = top
    while res > 4:
        children = {}
        if res == top:
            children["fromrgb"] = _conv(v, f"{res}x{res}/FromRGB", marker, frozen=True)
        children["conv0"] = _conv(v, f"{res}x{res}/Conv0", marker)
        children["conv1"] = _conv(v, f"{res}x{res}/Conv1_down", marker)
        children["skip"] = _conv(v, f"{res}x{res}/Skip", marker, bias=False)
        blocks[f"b{res}"] = module(
            "DiscriminatorBlock", marker, buffers={"resample_filter": _FILTER}, children=children
        )
        res //= 2
    mbstd = module("MinibatchStdLayer", marker, group_size=4, num_channels=1)
    blocks["b4"] = module(
        "DiscriminatorEpilogue", marker,
        children={"mbstd": mbstd, "conv": _conv(v, "4x4/Conv", marker),
                  "fc": _fc(v, "4x4/Dense0", marker, "lrelu"), "out": _fc(v, "Output", marker)},
    )  # fmt: skip
    return module("Discriminator", marker, children=blocks, init_kwargs=kwargs)


def write_nvlabs(
    path: Path, nets: dict[str, dict], marker: Path, resolution: int, fmap_base: int = 64,
    fmap_max: int = 16, z_dim: int = 8, w_dim: int = 8, depth: int = 2,
) -> Path:  # fmt: skip
    """network-snapshot.pkl from {"Gs", "G", "D"} TF variables (tests/interop/tf_builders.py)."""
    G_kwargs = {
        "z_dim": z_dim, "c_dim": 0, "w_dim": w_dim, "img_resolution": resolution,
        "img_channels": 3,
        "mapping_kwargs": EasyDict(num_layers=depth),
        "synthesis_kwargs": EasyDict(channel_base=fmap_base * 2, channel_max=fmap_max,
                                     num_fp16_res=0, conv_clamp=None),
    }  # fmt: skip
    D_kwargs = {
        "c_dim": 0, "img_resolution": resolution, "img_channels": 3, "architecture": "resnet",
        "channel_base": fmap_base * 2, "channel_max": fmap_max, "num_fp16_res": 0,
        "conv_clamp": None, "block_kwargs": EasyDict(freeze_layers=1),
        "mapping_kwargs": EasyDict(), "epilogue_kwargs": EasyDict(mbstd_group_size=4),
    }  # fmt: skip
    augment = module("AugmentPipe", marker, buffers={"p": np.float32(0.25).reshape(())})
    data = {
        "training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset",
                                "path": "faces.zip", "resolution": resolution, "xflip": False},
        "G": generator(nets["G"], marker, G_kwargs),
        "D": discriminator(nets["D"], marker, D_kwargs),
        "G_ema": generator(nets["Gs"], marker, G_kwargs),
        "augment_pipe": augment,
    }  # fmt: skip
    names = {
        "torch_utils.persistence": {"_reconstruct_persistent_obj": _reconstruct_persistent_obj},
        "dnnlib.util": {"EasyDict": EasyDict},
    }
    return dump(data, path, names)
