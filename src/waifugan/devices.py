"""Choosing a torch device: one rule for every command."""

from __future__ import annotations

import torch

from waifugan.errors import WaifuganError


def resolve_device(device: str | torch.device, local_rank: int = 0) -> torch.device:
    """ "auto" → this process's CUDA device when there is one, else CPU; other names as given."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return (
            torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        )
    try:
        return torch.device(device)
    except RuntimeError as error:
        raise WaifuganError(f"device {device!r} is not a valid torch device ({error})") from error
