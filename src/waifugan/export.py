"""Models as single self-describing files: G_ema weights + config in one .safetensors.

`load_generator` accepts such a model, a training checkpoint, or a run directory (its newest
valid checkpoint), so every command that takes MODEL takes any of the three.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from waifugan.errors import WaifuganError
from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.train.checkpoint import latest_valid_checkpoint, load_checkpoint

MODEL_FORMAT = "waifugan-generator"


def save_model(
    G: Generator, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write G's weights to .safetensors with its config and w_avg in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    metadata = {
        "format": MODEL_FORMAT,
        "version": "1",
        "config": json.dumps(G.cfg.to_dict()),
        "w_avg": json.dumps(G.mapping.w_avg.cpu().tolist()),
        "extra": json.dumps(extra or {}),
    }
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def generator_from_state(
    config: dict[str, Any], state_dict: dict[str, torch.Tensor], source: str
) -> Generator:
    """Build a Generator from a config dict and load weights strictly, naming mismatches."""
    try:
        G = Generator(GeneratorConfig(**config))
    except (TypeError, ValueError) as error:
        raise WaifuganError(f"{source}: invalid generator config ({error})") from error
    check_state_dict(G, state_dict, source)
    G.load_state_dict(state_dict)
    return G


def check_state_dict(
    module: torch.nn.Module, state_dict: dict[str, torch.Tensor], source: str
) -> None:
    """Raise WaifuganError naming the first parameter whose name or shape does not match."""
    expected = module.state_dict()
    for name, tensor in expected.items():
        if name not in state_dict:
            raise WaifuganError(
                f"{source}: parameter {name} is missing (network configuration differs)"
            )
        if tuple(state_dict[name].shape) != tuple(tensor.shape):
            raise WaifuganError(
                f"{source}: parameter {name} has shape {tuple(state_dict[name].shape)}, "
                f"the network expects {tuple(tensor.shape)} (network configuration differs)"
            )
    for name in state_dict:
        if name not in expected:
            raise WaifuganError(
                f"{source}: unexpected parameter {name} (network configuration differs)"
            )


def _load_safetensors(path: Path) -> Generator:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise WaifuganError(f"{path}: not a readable .safetensors file ({error})") from error
    if metadata.get("format") != MODEL_FORMAT or "config" not in metadata:
        raise WaifuganError(f"{path}: no waifugan generator config in its metadata")
    return generator_from_state(json.loads(metadata["config"]), state, str(path))


def _generator_from_checkpoint(state: dict[str, Any], source: str) -> Generator:
    return generator_from_state(state["options"]["G"], state["G_ema"], source)


def load_generator(model: str | os.PathLike[str], device: Any = "cpu") -> Generator:
    """Generator (eval mode, on device) from a .safetensors model, a checkpoint or a run dir."""
    path = Path(model)
    if path.is_dir():
        found = latest_valid_checkpoint(path)
        if found is None:
            raise WaifuganError(f"{path}: run directory has no valid checkpoint")
        G = _generator_from_checkpoint(found[1], str(found[0]))
    elif not path.exists():
        raise WaifuganError(f"{path}: no such model, checkpoint or run directory")
    elif path.suffix == ".safetensors":
        G = _load_safetensors(path)
    else:
        G = _generator_from_checkpoint(load_checkpoint(path), str(path))
    return G.eval().requires_grad_(False).to(device)


def export_model(source: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """`waifugan export`: a checkpoint or run directory's G_ema → one .safetensors model."""
    G = load_generator(source)
    return save_model(G, output, extra={"source": str(source)})
