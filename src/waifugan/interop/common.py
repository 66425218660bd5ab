"""What every format converter shares: the imported model, name bookkeeping, shape checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import MAPPING_LR_MULTIPLIER, Generator, GeneratorConfig
from waifugan.networks.stylegan1 import StyleGAN1Generator

AnyGenerator = Generator | StyleGAN1Generator


@dataclass
class ImportedModel:
    """What a foreign file held, converted to waifugan networks (CPU, eval mode)."""

    format: str  # "nvlabs-pytorch" | "tf-stylegan2" | "tf-stylegan1" | "rosinality"
    source: str  # the file
    G_ema: AnyGenerator  # the one to sample from
    G: AnyGenerator | None = None  # the training generator, where the file has one
    D: Discriminator | None = None  # where the file has one waifugan can build
    psi: float = 0.7  # truncation ψ the source tool samples with by default
    truncation_cutoff: int | None = None  # layers ψ applies to by default (None = all)
    augment_p: float | None = None  # ADA's augmentation probability, where the file has it
    notes: list[str] = field(default_factory=list)  # what was ignored or estimated

    @property
    def architecture(self) -> str:
        """'stylegan2' or 'stylegan1'."""
        return str(getattr(self.G_ema, "architecture", "stylegan2"))

    def summary(self) -> str:
        """Human-readable description: format, sizes, channels, defaults, parameter count."""
        G = self.G_ema
        cfg = G.cfg
        channels = ", ".join(f"{r}:{cfg.channels(r)}" for r in cfg.block_resolutions)
        count = sum(p.numel() for p in G.parameters())
        cutoff = (
            "all ws" if self.truncation_cutoff is None else f"the first {self.truncation_cutoff} ws"
        )
        nets = ["G_ema"] + [name for name in ("G", "D") if getattr(self, name) is not None]
        lines = [
            f"format        {self.format} ({self.architecture})",
            f"resolution    {cfg.img_resolution} px",
            f"z / w dims    {cfg.z_dim} / {cfg.w_dim}, {G.num_ws} ws",
            f"mapping       {cfg.map_depth} layers",
            f"channels      {channels}",
            f"truncation    ψ {self.psi:g} on {cutoff} (the source's defaults)",
            f"parameters    {count:,} in G_ema",
            f"networks      {', '.join(nets)}",
        ]
        lines += [f"note          {note}" for note in self.notes]
        return "\n".join(lines)


class TensorSource:
    """Named source arrays; remembers which were used so leftovers can be reported."""

    def __init__(self, tensors: Mapping[str, Any], source: str) -> None:
        self.tensors = {k: v for k, v in tensors.items() if v is not None}
        self.source = source
        self.used: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self.tensors

    def get(self, name: str) -> np.ndarray:
        """The array called name (float32); a missing one is reported by name."""
        if name not in self.tensors:
            raise WaifuganError(f"{self.source}: tensor {name} is missing")
        self.used.add(name)
        value = self.tensors[name]
        if isinstance(value, torch.Tensor):
            value = value.detach().float().cpu().numpy()
        return np.asarray(value, dtype=np.float32)

    def ignore(self, predicate: Callable[[str], bool]) -> list[str]:
        """Mark names the converter knowingly drops; returns them."""
        dropped = [name for name in self.tensors if name not in self.used and predicate(name)]
        self.used.update(dropped)
        return dropped

    def check_all_used(self) -> None:
        """Raise naming every source tensor nothing was mapped from."""
        unused = sorted(set(self.tensors) - self.used)
        if unused:
            raise WaifuganError(
                f"{self.source}: {len(unused)} unexpected tensor(s) the converter does not "
                f"know: {', '.join(unused[:20])}{' ...' if len(unused) > 20 else ''}"
            )


def fill_module(module: nn.Module, values: Mapping[str, np.ndarray], source: str) -> None:
    """Copy arrays into a module's parameters and buffers, naming every missing, unexpected
    or misshapen one in one error."""
    expected = module.state_dict()
    missing = [name for name in expected if name not in values]
    unexpected = [name for name in values if name not in expected]
    shapes = [
        f"{name} {tuple(np.shape(values[name]))} (expects {tuple(t.shape)})"
        for name, t in expected.items()
        if name in values and tuple(np.shape(values[name])) != tuple(t.shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected)}")
    if shapes:
        problems.append(f"wrong shape {', '.join(shapes)}")
    if problems:
        raise WaifuganError(f"{source}: weights do not fit the network: {'; '.join(problems)}")
    state = {
        name: torch.from_numpy(np.array(values[name], np.float32, order="C")) for name in expected
    }
    module.load_state_dict(state)


def channel_layout(channels: Mapping[int, int], source: str) -> tuple[int, int]:
    """(channel_base, channel_max) with min(base / r, max) == channels[r] at every r."""
    resolutions = sorted(channels)
    cmax = max(channels.values())
    below = [r for r in resolutions if channels[r] < cmax]
    base = channels[below[0]] * below[0] if below else cmax * resolutions[-1]
    if any(min(base // r, cmax) != channels[r] for r in resolutions):
        layout = ", ".join(f"{r}:{channels[r]}" for r in resolutions)
        raise WaifuganError(
            f"{source}: channels per resolution ({layout}) do not follow "
            "min(channel_base / r, channel_max); waifugan cannot build this network"
        )
    return base, cmax


def log2_int(value: int) -> int:
    """log2 of a power of two."""
    return int(round(math.log2(value)))


def lrmul_fold(weight: np.ndarray, bias: np.ndarray, lrmul: float) -> tuple[np.ndarray, ...]:
    """Rescale mapping weights stored for another lr multiplier to waifugan's (same outputs)."""
    if lrmul == MAPPING_LR_MULTIPLIER:
        return weight, bias
    factor = np.float32(lrmul / MAPPING_LR_MULTIPLIER)
    return weight * factor, bias * factor


def build_generator(
    cfg: GeneratorConfig, values: Mapping[str, np.ndarray], source: str
) -> Generator:
    """A StyleGAN2 Generator (eval, no grad) holding the converted values."""
    try:
        G = Generator(cfg)
    except ValueError as error:
        raise WaifuganError(f"{source}: cannot build the generator ({error})") from error
    fill_module(G, values, source)
    return G.eval().requires_grad_(False)


def build_discriminator(
    cfg: DiscriminatorConfig, values: Mapping[str, np.ndarray], source: str
) -> Discriminator:
    """A Discriminator (eval, no grad) holding the converted values."""
    D = Discriminator(cfg)
    fill_module(D, values, source)
    return D.eval().requires_grad_(False)


def kwarg(kwargs: Mapping[str, Any], name: str, default: Any) -> Any:
    """A static kwarg with its default when absent or None."""
    value = kwargs.get(name, default)
    return default if value is None else value


def require(condition: bool, source: str, message: str) -> None:
    """Raise WaifuganError(f'{source}: {message}') unless condition holds."""
    if not condition:
        raise WaifuganError(f"{source}: {message}")
