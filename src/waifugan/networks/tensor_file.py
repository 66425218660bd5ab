"""Tensors plus string metadata in one .safetensors file: the format of every file a network
is saved as (generators, the tagger). Written atomically; reading never executes code."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from waifugan.errors import WaifuganError


def write_tensor_file(
    path: str | os.PathLike[str], state: Mapping[str, torch.Tensor], metadata: Mapping[str, str]
) -> Path:
    """Write a state dict (moved to CPU) and metadata to a temporary file, then rename it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(tensors, str(tmp), metadata=dict(metadata))
    os.replace(tmp, path)
    return path


def read_tensor_file(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict on CPU, metadata); an unreadable file raises WaifuganError naming it."""
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        return load_file(str(path)), metadata
    except (SafetensorError, OSError, ValueError) as error:
        raise WaifuganError(f"{path}: not a readable .safetensors file ({error})") from error
