"""rosinality/stylegan2-pytorch training checkpoints, built the way its train.py saves them.

`torch.save(dict(g, d, g_ema, g_optim, d_optim, args=argparse.Namespace, ada_aug_p))` with
state-dict names from its model.py. Weights come from TensorFlow StyleGAN2 variables through
the transforms its convert_weight.py documents (transposes, +1 on modulation biases, the
up-sampling conv kernels flipped), so the NumPy reference on the TF variables gives the
images rosinality's generator would draw.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

_BLUR = torch.from_numpy(np.outer([1, 3, 3, 1], [1, 3, 3, 1]) / 64.0).float()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.array(a, np.float32, order="C"))


def _modconv(v: dict, tf: str, ours: str, flip: bool = False) -> dict[str, torch.Tensor]:
    weight = v[f"{tf}/weight"].transpose(3, 2, 0, 1)[None]
    if flip:
        weight = weight[:, :, :, ::-1, ::-1]
    return {
        f"{ours}.conv.weight": _t(weight),
        f"{ours}.conv.modulation.weight": _t(v[f"{tf}/mod_weight"].T),
        f"{ours}.conv.modulation.bias": _t(v[f"{tf}/mod_bias"] + 1),
        f"{ours}.noise.weight": _t(np.array([v[f"{tf}/noise_strength"]])),
        f"{ours}.activate.bias": _t(v[f"{tf}/bias"]),
    }


def _torgb(v: dict, tf: str, ours: str) -> dict[str, torch.Tensor]:
    return {
        f"{ours}.conv.weight": _t(v[f"{tf}/weight"].transpose(3, 2, 0, 1)[None]),
        f"{ours}.conv.modulation.weight": _t(v[f"{tf}/mod_weight"].T),
        f"{ours}.conv.modulation.bias": _t(v[f"{tf}/mod_bias"] + 1),
        f"{ours}.bias": _t(v[f"{tf}/bias"].reshape(1, 3, 1, 1)),
    }


def generator_state(v: dict) -> dict[str, torch.Tensor]:
    """A rosinality Generator state_dict from TF StyleGAN2 variables."""
    s = "synthesis"
    state: dict[str, torch.Tensor] = {}
    depth = sum(1 for k in v if k.startswith("mapping/Dense") and k.endswith("/weight"))
    for i in range(depth):
        state[f"style.{i + 1}.weight"] = _t(v[f"mapping/Dense{i}/weight"].T)
        state[f"style.{i + 1}.bias"] = _t(v[f"mapping/Dense{i}/bias"])
    state["input.input"] = _t(v[f"{s}/4x4/Const/const"])
    state.update(_modconv(v, f"{s}/4x4/Conv", "conv1"))
    state.update(_torgb(v, f"{s}/4x4/ToRGB", "to_rgb1"))
    res, k = 8, 0
    while f"{s}/{res}x{res}/Conv1/weight" in v:
        state.update(_modconv(v, f"{s}/{res}x{res}/Conv0_up", f"convs.{2 * k}", flip=True))
        state[f"convs.{2 * k}.conv.blur.kernel"] = _BLUR * 4
        state.update(_modconv(v, f"{s}/{res}x{res}/Conv1", f"convs.{2 * k + 1}"))
        state.update(_torgb(v, f"{s}/{res}x{res}/ToRGB", f"to_rgbs.{k}"))
        state[f"to_rgbs.{k}.upsample.kernel"] = _BLUR * 4
        res, k = res * 2, k + 1
    for i in range(2 * k + 1):
        state[f"noises.noise_{i}"] = _t(v[f"{s}/noise{i}"])
    return state


def discriminator_state(v: dict, resolution: int) -> dict[str, torch.Tensor]:
    """A rosinality Discriminator state_dict from TF D_stylegan2 variables."""
    state = {
        "convs.0.0.weight": _t(
            v[f"{resolution}x{resolution}/FromRGB/weight"].transpose(3, 2, 0, 1)
        ),
        "convs.0.1.bias": _t(v[f"{resolution}x{resolution}/FromRGB/bias"]),
    }
    res, i = resolution, 1
    while res > 4:
        p = f"{res}x{res}"
        state[f"convs.{i}.conv1.0.weight"] = _t(v[f"{p}/Conv0/weight"].transpose(3, 2, 0, 1))
        state[f"convs.{i}.conv1.1.bias"] = _t(v[f"{p}/Conv0/bias"])
        state[f"convs.{i}.conv2.0.kernel"] = _BLUR
        state[f"convs.{i}.conv2.1.weight"] = _t(v[f"{p}/Conv1_down/weight"].transpose(3, 2, 0, 1))
        state[f"convs.{i}.conv2.2.bias"] = _t(v[f"{p}/Conv1_down/bias"])
        state[f"convs.{i}.skip.0.kernel"] = _BLUR
        state[f"convs.{i}.skip.1.weight"] = _t(v[f"{p}/Skip/weight"].transpose(3, 2, 0, 1))
        res, i = res // 2, i + 1
    state["final_conv.0.weight"] = _t(v["4x4/Conv/weight"].transpose(3, 2, 0, 1))
    state["final_conv.1.bias"] = _t(v["4x4/Conv/bias"])
    state["final_linear.0.weight"] = _t(v["4x4/Dense0/weight"].T)
    state["final_linear.0.bias"] = _t(v["4x4/Dense0/bias"])
    state["final_linear.1.weight"] = _t(v["Output/weight"].T)
    state["final_linear.1.bias"] = _t(v["Output/bias"])
    return state


def write_rosinality(
    path: Path, nets: dict[str, dict], resolution: int, latent_avg: bool = True
) -> Path:
    """A train.py checkpoint (plus convert_weight.py's latent_avg when asked)."""
    args = argparse.Namespace(size=resolution, latent=8, n_mlp=2, channel_multiplier=2,
                              batch=16, iter=800000, r1=10.0, augment=True)  # fmt: skip
    ckpt = {
        "g": generator_state(nets["G"]),
        "d": discriminator_state(nets["D"], resolution),
        "g_ema": generator_state(nets["Gs"]),
        "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0, 1]}]},
        "d_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0, 1]}]},
        "args": args,
        "ada_aug_p": 0.125,
    }
    if latent_avg:
        ckpt["latent_avg"] = _t(nets["Gs"]["dlatent_avg"])
    torch.save(ckpt, path)
    return path
