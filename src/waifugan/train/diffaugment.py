"""DiffAugment (Zhao et al. 2020): cheap differentiable colour, translation and cutout.

Applied to every image D sees, real and fake, with probability 1. Unlike ADA (augment.py) it
does not adapt, and it does not need to: at the CPU presets' budget (tens of kimg) D does not
memorise the data, it simply wins — these three transforms keep it from keying on exact pixel
positions and colours, so G keeps getting gradients (measured in benchmarks/RESULTS.md).
Translation pads with zeros as in the paper; the translated border and the cutout square are
visible to D on reals and fakes alike, so nothing of them leaks into G's images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # the paper's setting: shift by up to 1/8 of the side
CUTOUT_RATIO = 0.5  # the paper's setting: erase a square of half the side


def parse_policy(text: str) -> tuple[str, ...]:
    """'color,translation,cutout' (or '' / 'none') → a validated tuple; raises ValueError
    naming a bad part."""
    if text.strip().lower() == "none":
        return ()
    parts = tuple(p.strip() for p in text.split(",") if p.strip())
    for part in parts:
        if part not in POLICIES:
            raise ValueError(f"unknown DiffAugment policy {part!r}; choose from {POLICIES}")
    return parts


def diff_augment(
    x: torch.Tensor,  # [N, C, H, W] float in about [-1, 1]
    policy: tuple[str, ...] = POLICIES,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # same shape, differentiable w.r.t. x
    """Each transform of `policy`, with fresh random parameters per sample."""
    for name in policy:
        x = _TRANSFORMS[name](x, generator)
    return x


def _rand(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # Drawn on the CPU generator when one is given, so tests are reproducible on any device.
    device = x.device if generator is None else "cpu"
    return torch.rand(x.shape[0], 1, 1, 1, generator=generator, device=device).to(x)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Brightness ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5] (the paper's ranges)."""
    x = x + (_rand(x, generator) - 0.5)
    gray = x.mean(dim=1, keepdim=True)
    x = (x - gray) * (_rand(x, generator) * 2) + gray
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_rand(x, generator) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shift by whole pixels, up to TRANSLATION_RATIO of the side, zero-filling the border."""
    n, c, h, w = x.shape
    shift = max(int(h * TRANSLATION_RATIO + 0.5), 1)
    offsets = torch.randint(-shift, shift + 1, (2, n), generator=generator).to(x.device)
    rows = torch.arange(h, device=x.device).unsqueeze(0) - offsets[0].unsqueeze(1)  # [N, H]
    cols = torch.arange(w, device=x.device).unsqueeze(0) - offsets[1].unsqueeze(1)  # [N, W]
    # Indices into the zero-padded image: out-of-range positions land on the zero border.
    rows = (rows + 1).clamp(0, h + 1)
    cols = (cols + 1).clamp(0, w + 1)
    padded = F.pad(x, (1, 1, 1, 1))
    index = (rows.unsqueeze(2) * (w + 2) + cols.unsqueeze(1)).reshape(n, 1, h * w)
    return padded.flatten(2).gather(2, index.expand(n, c, h * w)).reshape(n, c, h, w)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Zero one square of CUTOUT_RATIO of the side at a random centre per sample."""
    n, _, h, w = x.shape
    size_h, size_w = int(h * CUTOUT_RATIO + 0.5), int(w * CUTOUT_RATIO + 0.5)
    centre_y = torch.randint(0, h + (1 - size_h % 2), (n, 1, 1), generator=generator)
    centre_x = torch.randint(0, w + (1 - size_w % 2), (n, 1, 1), generator=generator)
    top, left = centre_y - size_h // 2, centre_x - size_w // 2  # may start outside the image
    ys = torch.arange(h).reshape(1, h, 1)
    xs = torch.arange(w).reshape(1, 1, w)
    inside = (ys >= top) & (ys < top + size_h) & (xs >= left) & (xs < left + size_w)
    keep = (~inside).to(device=x.device, dtype=x.dtype).unsqueeze(1)  # [N, 1, H, W]
    return x * keep


_TRANSFORMS = {"color": color, "translation": translation, "cutout": cutout}
