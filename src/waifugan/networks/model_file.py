"""Model files: a generator's weights in one .safetensors with its config as JSON metadata.

In the spirit of diffusers' `save_pretrained` / `from_pretrained`: a model's config is its
constructor arguments, so the file alone rebuilds the network. The config carries an
`architecture` ("stylegan2" when absent, as in files written before the field existed), and
`load_model` builds the class registered for it. Loading never executes code (safetensors).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.networks.stylegan1 import StyleGAN1Config, StyleGAN1Generator
from waifugan.networks.tensor_file import read_tensor_file, write_tensor_file

MODEL_FORMAT = "waifugan-generator"
DISCRIMINATOR_FORMAT = "waifugan-discriminator"
DEFAULT_ARCHITECTURE = "stylegan2"

# architecture name → (generator class, its config class). A new synthesis network adds one
# entry; its class needs `cfg.to_dict()`, a `mapping.w_avg` buffer and an `architecture` name.
ARCHITECTURES: dict[str, tuple[type[torch.nn.Module], type]] = {
    DEFAULT_ARCHITECTURE: (Generator, GeneratorConfig),
    "stylegan1": (StyleGAN1Generator, StyleGAN1Config),  # imported TF StyleGAN1 models
}


def save_model(
    G: Any, path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write G's weights to .safetensors with its config (architecture included) and w_avg.

    G is a generator of ARCHITECTURES: it has `cfg.to_dict()`, `mapping.w_avg`, `state_dict()`.
    """
    architecture = getattr(G, "architecture", DEFAULT_ARCHITECTURE)
    config = {"architecture": architecture, **G.cfg.to_dict()}
    metadata = {
        "format": MODEL_FORMAT,
        "version": "1",
        "config": json.dumps(config),
        "w_avg": json.dumps(G.mapping.w_avg.cpu().tolist()),
        "extra": json.dumps(dict(extra or {})),
    }
    return write_tensor_file(path, G.state_dict(), metadata)


def load_model(path: str | os.PathLike[str]) -> torch.nn.Module:
    """The generator a model file describes (CPU, train mode as built; weights checked)."""
    path = Path(path)
    state, metadata = read_tensor_file(path)
    if metadata.get("format") != MODEL_FORMAT or "config" not in metadata:
        raise WaifuganError(f"{path}: no waifugan generator config in its metadata")
    try:
        config = json.loads(metadata["config"])
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
        raise WaifuganError(f"{path}: generator config is not valid JSON ({error})") from error
    if not isinstance(config, dict):
        raise WaifuganError(f"{path}: generator config is not a JSON object")
    return build_generator(config, state, str(path))


def discriminator_path(model_path: str | os.PathLike[str]) -> Path:
    """Where a model file keeps its discriminator: MODEL.D.safetensors beside MODEL.safetensors
    (fine-tuning starts D from it instead of from scratch)."""
    path = Path(model_path)
    return path.with_name(path.name.removesuffix(".safetensors") + ".D.safetensors")


def tagger_path(model_path: str | os.PathLike[str]) -> Path:
    """Where a model file keeps its tagger (character cards): MODEL.tagger.safetensors."""
    return Path(model_path).with_suffix(".tagger.safetensors")


def save_discriminator(
    D: Discriminator, path: str | os.PathLike[str], extra: Mapping[str, Any] | None = None
) -> Path:
    """Write D's weights with its config, like `save_model` does for a generator."""
    metadata = {
        "format": DISCRIMINATOR_FORMAT,
        "version": "1",
        "config": json.dumps(D.cfg.to_dict()),
        "extra": json.dumps(dict(extra or {})),
    }
    return write_tensor_file(path, D.state_dict(), metadata)


def load_discriminator(path: str | os.PathLike[str]) -> Discriminator:
    """The discriminator a D file describes (CPU; weights checked by name and shape)."""
    state, metadata = read_tensor_file(path)
    if metadata.get("format") != DISCRIMINATOR_FORMAT or "config" not in metadata:
        raise WaifuganError(f"{path}: no waifugan discriminator config in its metadata")
    try:
        D = Discriminator(DiscriminatorConfig(**json.loads(metadata["config"])))
    except (TypeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise WaifuganError(f"{path}: invalid discriminator config ({error})") from error
    load_weights(D, state, str(path))
    return D


def build_generator(
    config: Mapping[str, Any], state_dict: Mapping[str, torch.Tensor], source: str
) -> torch.nn.Module:
    """Build the generator a config dict names and load weights strictly, naming mismatches."""
    values = dict(config)
    architecture = values.pop("architecture", DEFAULT_ARCHITECTURE)
    if not isinstance(architecture, str) or architecture not in ARCHITECTURES:
        known = ", ".join(ARCHITECTURES)
        raise WaifuganError(f"{source}: unknown architecture {architecture!r} (known: {known})")
    generator_class, config_class = ARCHITECTURES[architecture]
    try:
        G = generator_class(config_class(**values))
    except (TypeError, ValueError) as error:
        raise WaifuganError(f"{source}: invalid generator config ({error})") from error
    load_weights(G, state_dict, source)
    return G


def load_weights(
    module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str
) -> None:
    """Load a state dict strictly after `check_state_dict` (errors name the parameter)."""
    check_state_dict(module, state_dict, source)
    module.load_state_dict(state_dict)


def check_state_dict(
    module: torch.nn.Module, state_dict: Mapping[str, torch.Tensor], source: str
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
