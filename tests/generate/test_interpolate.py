"""Latent-walk paths: keyframes hit exactly, loops close, identical keys give a constant path."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from waifugan.errors import WaifuganError
from waifugan.generate.interpolate import (
    InterpolateConfig,
    interpolate_keyframes,
    parse_grid,
    walk_positions,
)

KINDS = ["linear", "slerp", "cubic"]


def _keys() -> torch.Tensor:
    return torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(0))  # [K, num_ws, w_dim]


def test_positions() -> None:
    assert walk_positions(3, 4, loop=False).tolist() == [i / 4 for i in range(9)]  # ends on key 2
    assert walk_positions(3, 4, loop=True).tolist() == [i / 4 for i in range(13)]  # back on key 0


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("loop", [False, True])
def test_path_passes_through_every_keyframe(kind: str, loop: bool) -> None:
    keys = _keys()
    path = interpolate_keyframes(keys, np.arange(4.0 if loop else 3.0 + 1), kind, loop)
    assert torch.allclose(path, keys, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_loop_closes_on_the_first_key(kind: str) -> None:
    keys = _keys()
    positions = walk_positions(4, 5, loop=True)  # the video's frames
    path = interpolate_keyframes(keys, positions, kind, loop=True)
    assert torch.allclose(path[-1], path[0], atol=1e-5)  # the last frame is the first again
    steps = (path[1:] - path[:-1]).flatten(1).norm(dim=1)
    assert steps[-1] <= steps.max() * 1.01  # and arriving there is an ordinary step


@pytest.mark.parametrize("kind", KINDS)
def test_identical_keys_give_a_constant_path(kind: str) -> None:
    same = _keys()[:1].repeat(2, 1, 1)
    path = interpolate_keyframes(same, walk_positions(2, 7, loop=False), kind, loop=False)
    assert torch.equal(path, same[:1].expand_as(path))


def test_slerp_keeps_norm_between_equal_norm_vectors() -> None:
    a, b = torch.tensor([[3.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    mid = interpolate_keyframes(torch.cat([a, b]), np.array([0.5]), "slerp", loop=False)
    assert torch.allclose(mid.norm(), torch.tensor(3.0)) and mid[0, 0] == pytest.approx(mid[0, 1])
    lin = interpolate_keyframes(torch.cat([a, b]), np.array([0.5]), "linear", loop=False)
    assert lin.norm() < 2.2  # linear cuts the corner


def test_config_validation() -> None:
    cfg = InterpolateConfig(seeds=(1, 5, 9))
    assert (cfg.interpolation, cfg.num_frames) == ("linear", 121)
    assert InterpolateConfig(seeds=(1, 5), space="z").interpolation == "slerp"
    assert InterpolateConfig(seeds=(1, 5, 9), loop=True).num_frames == 181
    with pytest.raises(WaifuganError, match="at least 2 seeds per walk"):
        InterpolateConfig(seeds=(1, 2, 3), grid=(2, 2))
    with pytest.raises(WaifuganError, match="--kind"):
        InterpolateConfig(seeds=(1, 2), kind="bezier")
    assert parse_grid("3x4") == (3, 4)
    with pytest.raises(WaifuganError, match="ROWSxCOLS"):
        parse_grid("3")
