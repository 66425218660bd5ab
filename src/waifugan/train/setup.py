"""What a run trains: G, D, G_ema built from the options, their Adam optimizers, and the
weights they start from (fresh, transfer learning, or a resumed checkpoint's)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import MAPPING_LR_MULTIPLIER, Generator
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
    G_opt = torch.optim.Adam(_g_param_groups(G), eps=1e-8)
    D_opt = torch.optim.Adam(D.parameters(), eps=1e-8)
    nets = Networks(G, D, G_ema, G_opt, D_opt)
    apply_hyperparameters(nets, opts)
    return nets


def _g_group_names(G: torch.nn.Module) -> list[tuple[str, list[str]]]:
    """(group, parameter names) of G's two Adam groups, in module order: the mapping
    network's parameters (its own lr) after all others."""
    names = [n for n, _ in G.named_parameters()]
    return [
        ("G", [n for n in names if not n.startswith("mapping.")]),
        ("mapping", [n for n in names if n.startswith("mapping.")]),
    ]


def _g_param_groups(G: torch.nn.Module) -> list[dict[str, Any]]:
    """G's parameters as Adam groups (see `_g_group_names`)."""
    params = dict(G.named_parameters())
    return [{"name": g, "params": [params[n] for n in names]} for g, names in _g_group_names(G)]


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
    a changed --glr / --dlr / --map-lr-mult (or regularization interval) take effect.

    The mapping layers store their weights for StyleGAN's lr multiplier (0.01); Adam's step
    does not depend on the gradient's scale, so another multiplier m is the same training as
    the mapping group's lr times m / 0.01 (up to Adam's epsilon).
    """
    map_scale = opts.map_lr_mult / MAPPING_LR_MULTIPLIER
    for opt, lr, interval in (
        (nets.G_opt, opts.glr, opts.pl_interval),
        (nets.D_opt, opts.dlr, opts.r1_interval),
    ):
        lr_lazy, betas = lazy_adam_hyperparameters(lr, interval)
        for group in opt.param_groups:
            scale = map_scale if group.get("name") == "mapping" else 1.0
            group.update(lr=lr_lazy * scale, betas=betas)


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
    nets.G_opt.load_state_dict(_with_g_groups(state["G_opt"], nets.G))
    nets.D_opt.load_state_dict(state["D_opt"])
    apply_hyperparameters(nets, opts)


def _with_g_groups(saved: dict[str, Any], G: torch.nn.Module) -> dict[str, Any]:
    """A G optimizer state as this code groups G's parameters: checkpoints written before the
    mapping network had its own group hold one group in module order; their moments are
    re-indexed into the groups of `_g_param_groups`."""
    if len(saved["param_groups"]) != 1:
        return saved
    names = [n for n, _ in G.named_parameters()]
    old_group = saved["param_groups"][0]
    if len(old_group["params"]) != len(names):
        return saved  # not this G's: load_state_dict names the mismatch
    old_ids = dict(zip(names, old_group["params"], strict=True))
    hyper = {k: v for k, v in old_group.items() if k != "params"}
    named_groups = _g_group_names(G)
    new_order = [name for _, members in named_groups for name in members]
    states = {
        new_id: saved["state"][old_ids[name]]
        for new_id, name in enumerate(new_order)
        if old_ids[name] in saved["state"]
    }
    groups, start = [], 0
    for group, members in named_groups:
        groups.append({**hyper, "name": group, "params": list(range(start, start + len(members)))})
        start += len(members)
    return {"state": states, "param_groups": groups}


def network_state(nets: Networks) -> dict[str, Any]:
    """The networks' and optimizers' part of a checkpoint."""
    state: dict[str, Any] = {name: module.state_dict() for name, module in nets.modules()}
    state.update(G_opt=nets.G_opt.state_dict(), D_opt=nets.D_opt.state_dict())
    return state
