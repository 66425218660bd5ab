"""Which tool wrote a file: magic bytes first, then the structure of the (safely) loaded data."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from waifugan.errors import WaifuganError
from waifugan.interop.unpickle import (
    PersistentObject,
    TFNetwork,
    UnsafePickleError,
    load_pickle,
    load_torch_file,
)

# torch.save's legacy (pre-1.6) format starts with this number, pickled.
_TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_PICKLE_PROTOCOLS = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}

NVLABS = "nvlabs-pytorch"
TF_STYLEGAN2 = "tf-stylegan2"
TF_STYLEGAN1 = "tf-stylegan1"
ROSINALITY = "rosinality"
FORMATS = (NVLABS, TF_STYLEGAN2, TF_STYLEGAN1, ROSINALITY)


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(16)
    except FileNotFoundError:
        raise WaifuganError(f"{path}: no such file") from None
    except OSError as error:
        raise WaifuganError(f"{path}: cannot be read ({error})") from error


def _load(path: Path) -> Any:
    head = _head(path)
    if not head:
        raise WaifuganError(f"{path}: the file is empty")
    if head.startswith(b"PK\x03\x04"):
        return load_torch_file(path)  # torch.save zip format
    if head[:2] in _PICKLE_PROTOCOLS:
        data = load_pickle(path)
        if isinstance(data, int) and data == _TORCH_LEGACY_MAGIC:
            return load_torch_file(path)  # legacy torch.save: several pickles in a row
        return data
    if len(head) >= 9 and head[8:9] == b"{":
        raise WaifuganError(
            f"{path}: a .safetensors file, not a file from another tool; waifugan commands "
            "read waifugan .safetensors models directly"
        )
    if head.startswith(b"\x1f\x8b"):
        raise WaifuganError(f"{path}: gzip-compressed; decompress it first (gunzip)")
    try:  # a protocol 0/1 pickle has no header; anything else fails on its first bytes
        return load_pickle(path)
    except UnsafePickleError:
        raise
    except WaifuganError:
        raise WaifuganError(
            f"{path}: not a pickle or PyTorch file (starts with {head[:8]!r}); expected an "
            "NVlabs .pkl, a TensorFlow StyleGAN .pkl or a rosinality .pt checkpoint"
        ) from None


def classify(data: Any, source: str) -> str:
    """Format name of already loaded data; WaifuganError if it is none of FORMATS."""
    if isinstance(data, tuple) and len(data) == 3 and all(isinstance(n, TFNetwork) for n in data):
        Gs = data[2]
        version = Gs.state.get("version")
        func = str(Gs.state.get("build_func_name"))
        if func == "G_style":
            return TF_STYLEGAN1
        if func == "G_main":
            return TF_STYLEGAN2
        raise WaifuganError(
            f"{source}: a TensorFlow StyleGAN pickle (Network version {version}) whose "
            f"generator is built by {func!r}; supported: G_style (StyleGAN1), G_main (StyleGAN2)"
        )
    if isinstance(data, dict):
        if isinstance(data.get("G_ema"), PersistentObject):
            return NVLABS
        if "g_ema" in data:
            return ROSINALITY
        if data.get("format") == "waifugan-checkpoint":
            raise WaifuganError(
                f"{source}: already a waifugan checkpoint; use it directly (train --init/--resume)"
            )
        keys = ", ".join(sorted(map(str, data))[:8])
        raise WaifuganError(f"{source}: a dict with keys {keys}: not a known StyleGAN file")
    raise WaifuganError(f"{source}: holds a {type(data).__name__}, not a known StyleGAN file")


def read_foreign(path: str | os.PathLike[str]) -> tuple[str, Any]:
    """(format name, loaded data) of a file from another StyleGAN tool, loaded safely."""
    path = Path(path)
    data = _load(path)
    return classify(data, str(path)), data
