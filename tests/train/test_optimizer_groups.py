"""G's Adam groups: the mapping network's own learning rate (--map-lr-mult), and checkpoints
written when G had one group."""

import copy
import math

import torch

from waifugan.train import setup
from waifugan.train.options import TrainOptions


def _opts(**kw) -> TrainOptions:
    return TrainOptions(data="unused", resolution=16, z_dim=32, w_dim=32, map_depth=2,
                        cbase=512, cmax=32, noise=False, **kw)  # fmt: skip


def _loss(G: torch.nn.Module, step: int) -> torch.Tensor:
    z = torch.randn(4, 32, generator=torch.Generator().manual_seed(step))
    return G(z).square().mean()


def _set_lr_multiplier(mapping: torch.nn.Module, m: float) -> None:
    """Store the mapping layers' weights for lr multiplier m (same outputs), as NVlabs does."""
    for layer in mapping.layers:
        with torch.no_grad():
            layer.weight.mul_(layer.weight_gain * math.sqrt(layer.weight.shape[1]) / m)
            layer.bias.mul_(layer.bias_gain / m)
        layer.weight_gain = m / math.sqrt(layer.weight.shape[1])
        layer.bias_gain = m


def _effective(G: torch.nn.Module) -> list[torch.Tensor]:
    return [layer.weight * layer.weight_gain for layer in G.mapping.layers]


def test_map_lr_mult_trains_like_a_mapping_built_with_that_lr_multiplier():
    torch.manual_seed(0)
    nets = setup.build_networks(_opts(map_lr_mult=0.1), torch.device("cpu"))
    G_ref = copy.deepcopy(nets.G)
    _set_lr_multiplier(G_ref.mapping, 0.1)
    assert all(
        torch.allclose(a, b) for a, b in zip(_effective(nets.G), _effective(G_ref), strict=True)
    )
    group = nets.G_opt.param_groups[0]
    ref_opt = torch.optim.Adam(G_ref.parameters(), lr=group["lr"], betas=group["betas"], eps=1e-8)
    before = [w.detach().clone() for w in _effective(nets.G)]
    for step in range(3):
        for G, opt in ((nets.G, nets.G_opt), (G_ref, ref_opt)):
            opt.zero_grad()
            _loss(G, step).backward()
            opt.step()
    # One Adam step moves an effective mapping weight by ~lr * 0.1 / sqrt(32) = 4e-5; Adam's
    # epsilon weighs differently on the two gradient scales where a gradient is ~0, so allow
    # a quarter of one step there (a wrong lr scale would be off by several steps).
    for ours, ref, start in zip(_effective(nets.G), _effective(G_ref), before, strict=True):
        assert (ours - start).abs().max() > 1e-4  # the mapping did train
        torch.testing.assert_close(ours, ref, rtol=1e-4, atol=1e-5)
    synthesis = nets.G.synthesis.state_dict()
    for name, value in G_ref.synthesis.state_dict().items():
        torch.testing.assert_close(synthesis[name], value, rtol=1e-4, atol=1e-6)


def test_the_mapping_group_gets_its_scaled_lr_and_the_rest_of_g_the_plain_one():
    nets = setup.build_networks(_opts(glr=0.002, map_lr_mult=1.0), torch.device("cpu"))
    groups = {g["name"]: g for g in nets.G_opt.param_groups}
    lr, _ = setup.lazy_adam_hyperparameters(0.002, 4)
    assert groups["G"]["lr"] == lr
    assert math.isclose(groups["mapping"]["lr"], lr * 100)
    mapping_ids = {id(p) for p in nets.G.mapping.parameters()}
    assert {id(p) for p in groups["mapping"]["params"]} == mapping_ids
    assert len(groups["G"]["params"]) + len(mapping_ids) == len(list(nets.G.parameters()))


def test_a_one_group_optimizer_state_of_an_older_checkpoint_loads_into_the_two_groups():
    opts = _opts(map_lr_mult=0.5)
    old = setup.build_networks(opts, torch.device("cpu"))
    one_group = torch.optim.Adam(old.G.parameters(), lr=0.001, betas=(0.0, 0.99), eps=1e-8)
    _loss(old.G, 0).backward()
    one_group.step()
    state = setup.network_state(old)
    state["G_opt"] = one_group.state_dict()

    new = setup.build_networks(opts, torch.device("cpu"))
    setup.load_network_state(new, state, opts)
    for name, param in new.G.named_parameters():
        expected = one_group.state[dict(old.G.named_parameters())[name]]["exp_avg"]
        torch.testing.assert_close(new.G_opt.state[param]["exp_avg"], expected)
    groups = {g["name"]: g for g in new.G_opt.param_groups}
    assert math.isclose(groups["mapping"]["lr"], groups["G"]["lr"] * 50)
