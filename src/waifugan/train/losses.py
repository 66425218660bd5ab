"""StyleGAN2 losses as small pure functions named after the paper's terms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def g_nonsaturating_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating logistic G loss: softplus(-D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def d_logistic_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic D loss: softplus(D(G(z))) + softplus(-D(x))."""
    return F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()


def d_r1_penalty(real_logits: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """R1: squared gradient norm of D on real images, per sample [N] (Mescheder et al. 2018)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real_img, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3])


def g_path_length(
    fake_img: torch.Tensor, ws: torch.Tensor
) -> torch.Tensor:  # img [N, 3, H, W], ws [N, L, w_dim] → [N]
    """Path lengths |J_w^T y| for random image-space directions y (StyleGAN2 §3.2).

    y is scaled by 1/sqrt(H*W) so the length does not depend on the resolution.
    """
    noise = torch.randn_like(fake_img) / math.sqrt(fake_img.shape[2] * fake_img.shape[3])
    (grad,) = torch.autograd.grad((fake_img * noise).sum(), ws, create_graph=True)
    return grad.square().sum(dim=2).mean(dim=1).sqrt()


def path_length_penalty(
    lengths: torch.Tensor, pl_mean: torch.Tensor, decay: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(per-sample penalty (|J^T y| - a)^2, updated target a), a an EMA of the lengths."""
    new_mean = pl_mean.lerp(lengths.detach().mean(), decay)
    return (lengths - new_mean).square(), new_mean
