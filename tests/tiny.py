"""Tiny network configurations shared by the tests (fast on CPU)."""

from __future__ import annotations

from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig


def tiny_g_config(resolution: int = 16) -> GeneratorConfig:
    """A few-thousand-parameter generator config."""
    return GeneratorConfig(
        img_resolution=resolution, z_dim=32, w_dim=32, map_depth=2, channel_base=512, channel_max=32
    )


def tiny_G(resolution: int = 16, seed: int = 0) -> Generator:
    """A tiny generator with deterministic weights and a non-zero w_avg."""
    import torch

    torch.manual_seed(seed)
    G = Generator(tiny_g_config(resolution)).eval()
    G.mapping.w_avg.copy_(torch.randn(G.w_dim))
    return G


def tiny_D(resolution: int = 16, seed: int = 0) -> Discriminator:
    """A tiny discriminator with deterministic weights."""
    import torch

    torch.manual_seed(seed)
    cfg = DiscriminatorConfig(img_resolution=resolution, channel_base=512, channel_max=32)
    return Discriminator(cfg)
