"""What a run trains: G, D, G_ema built from the options, their Adam optimizers, and the
weights they start from (fresh, transfer learning, or a resumed checkpoint's)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import Generator
from waifugan.networks.model_file import load_model, load_weights
from waifugan.networks.precision import set_mixed_precision
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.options import TrainOptions


@dataclass
class Networks:
    """The three networks of a run and the optimizers of the two that train."""

    G: Generator
    D: Discriminator
    G_ema: Generator  # exponential moving average of G: what snapshots and exports show
    G_opt: torch.optim.Adam
    D_opt: torch.optim.Adam

    def num_params(self) -> dict[str, int]:
        """Parameter counts of G and D (G_ema has G's)."""
        return {name: count_params(net) for name, net in (("G", self.G), ("D", self.D))}

    def modules(self) -> tuple[tuple[str, torch.nn.Module], ...]:
        """(name, module) of G, G_ema and D: the names checkpoints store them under."""
        return (("G", self.G), ("G_ema", self.G_ema), ("D", self.D))


def build_networks(opts: TrainOptions, device: torch.device) -> Networks:
    """Fresh G, D (seeded by opts.seed, so every rank starts identical), G_ema = G, Adam."""
    torch.manual_seed(opts.seed)
    G = Generator(opts.G_config()).to(device).train()
    D = Discriminator(opts.D_config()).to(device).train()
    for net in (G, D):  # bf16 / channels_last in the num_fp16_res blocks (CUDA only)
        set_mixed_precision(net, opts.precision, opts.channels_last)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    G_opt = _adam(G, *lazy_adam_hyperparameters(opts.glr, opts.pl_interval))
    D_opt = _adam(D, *lazy_adam_hyperparameters(opts.dlr, opts.r1_interval))
    return Networks(G, D, G_ema, G_opt, D_opt)


def _adam(module: torch.nn.Module, lr: float, betas: tuple[float, float]) -> torch.optim.Adam:
    return torch.optim.Adam(module.parameters(), lr=lr, betas=betas, eps=1e-8)


def lazy_adam_hyperparameters(lr: float, reg_interval: int) -> tuple[float, tuple[float, float]]:
    """Adam (lr, betas) for a network regularized every `reg_interval` steps.

    Lazy regularization runs the penalty every k steps at k times the weight; StyleGAN2
    (Appendix B) scales lr and β2 by k/(k+1) so the optimizer matches the non-lazy one.
    β1 = 0 and β2 = 0.99 as in StyleGAN2.
    """
    ratio = reg_interval / (reg_interval + 1)
    return lr * ratio, (0.0, 0.99**ratio)


def apply_hyperparameters(nets: Networks, opts: TrainOptions) -> None:
    """Set both optimizers' lr and betas from the options; after a resume this is what makes
    a changed --glr / --dlr (or regularization interval) take effect."""
    for opt, lr, interval in (
        (nets.G_opt, opts.glr, opts.pl_interval),
        (nets.D_opt, opts.dlr, opts.r1_interval),
    ):
        lr_lazy, betas = lazy_adam_hyperparameters(lr, interval)
        for group in opt.param_groups:
            group.update(lr=lr_lazy, betas=betas)


def count_params(module: torch.nn.Module) -> int:
    """Number of trainable-parameter elements (buffers such as w_avg excluded)."""
    return sum(p.numel() for p in module.parameters())


def load_init_weights(nets: Networks, path: str, device: torch.device) -> str:
    """Transfer learning: G, G_ema (and D from a checkpoint) from `path`; returns a log line."""
    if path.endswith(".safetensors"):
        state = load_model(path).state_dict()
        load_weights(nets.G, state, path)
        load_weights(nets.G_ema, state, path)
        return f"initialized G and G_ema from {path} (transfer learning)"
    checkpoint = load_checkpoint(path, device)
    for name, module in nets.modules():
        load_weights(module, checkpoint[name], f"{path} ({name})")
    return f"initialized G, G_ema and D from {path} (transfer learning)"


def load_network_state(nets: Networks, state: dict[str, Any], opts: TrainOptions) -> None:
    """A checkpoint's weights and optimizer moments, then the resolved lr/betas on top."""
    for name, module in nets.modules():
        load_weights(module, state[name], f"checkpoint {name}")
    nets.G_opt.load_state_dict(state["G_opt"])
    nets.D_opt.load_state_dict(state["D_opt"])
    apply_hyperparameters(nets, opts)


def network_state(nets: Networks) -> dict[str, Any]:
    """The networks' and optimizers' part of a checkpoint."""
    state: dict[str, Any] = {name: module.state_dict() for name, module in nets.modules()}
    state.update(G_opt=nets.G_opt.state_dict(), D_opt=nets.D_opt.state_dict())
    return state
