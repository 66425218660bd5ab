"""Style mixing: cells equal hand-made mixes via G.synthesis; all layers → column, none → row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from waifugan.cli import main
from waifugan.errors import WaifuganError
from waifugan.generate.mixing import mix_grid, mix_styles, style_layers, ws_resolution
from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.networks.model_file import save_model
from waifugan.networks.sampling import seeds_to_z, to_uint8

ROWS, COLS = [1, 2, 3], [10, 11]


@pytest.fixture(scope="module")
def G() -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        img_resolution=16, z_dim=32, w_dim=32, map_depth=2, channel_base=512, channel_max=32
    )
    return Generator(cfg).eval().requires_grad_(False)


def test_style_ranges_as_ws_indices() -> None:
    # 64 px model: blocks 4..64 → 10 ws
    assert [ws_resolution(i) for i in range(10)] == [4, 4, 8, 8, 16, 16, 32, 32, 64, 64]
    assert style_layers("coarse", 10) == [0, 1, 2, 3]
    assert style_layers("middle", 10) == [4, 5, 6, 7]
    assert style_layers("fine", 10) == [8, 9]
    assert style_layers("fine", 14) == list(range(8, 14))  # 256 px
    assert style_layers("0-2,5", 10) == [0, 1, 2, 5]
    assert style_layers("middle", 6) == [4, 5]  # 16 px model
    with pytest.raises(WaifuganError, match="no layers at 64"):
        style_layers("fine", 6)
    for bad in ("0-12", "3-1", "x", "1-"):
        with pytest.raises(WaifuganError, match="--styles"):
            style_layers(bad, 10)


@torch.no_grad()
def _by_hand(G: Generator, row: int, col: int, layers: list[int]) -> np.ndarray:
    ws_r = G.mapping(seeds_to_z([row], G.z_dim), psi=0.7)
    ws_c = G.mapping(seeds_to_z([col], G.z_dim), psi=0.7)
    for i in layers:
        ws_r[:, i] = ws_c[:, i]
    return to_uint8(G.synthesis(ws_r, noise_mode="const"))[0]


@pytest.mark.parametrize("styles", ["coarse", "middle", "1,4"])
def test_cells_equal_hand_made_mixes(G: Generator, styles: str) -> None:
    layers = style_layers(styles, G.num_ws)
    rows, cols, cells = mix_styles(G, ROWS, COLS, layers, psi=0.7)
    assert cells.shape == (3, 2, 16, 16, 3)
    for r, row in enumerate(ROWS):
        for c, col in enumerate(COLS):
            assert np.array_equal(cells[r, c], _by_hand(G, row, col, layers)), (styles, r, c)
    assert np.array_equal(rows, G.sample(ROWS, psi=0.7))
    assert np.array_equal(cols, G.sample(COLS, psi=0.7))
    # mixing changes the picture (the test would pass vacuously otherwise)
    assert not np.array_equal(cells[0, 0], rows[0]) and not np.array_equal(cells[0, 0], cols[0])


def test_all_layers_give_column_none_give_row(G: Generator) -> None:
    rows, cols, cells = mix_styles(G, ROWS, COLS, list(range(G.num_ws)))
    for r in range(3):
        assert np.array_equal(cells[r], cols)
    rows, cols, cells = mix_styles(G, ROWS, COLS, [])
    for c in range(2):
        assert np.array_equal(cells[:, c], rows)


def test_grid_layout_and_cli(G: Generator, tmp_path: Path) -> None:
    rows, cols, cells = mix_styles(G, ROWS, COLS, [0, 1, 2, 3])
    grid = mix_grid(rows, cols, cells)
    assert grid.shape == (4 * 16, 3 * 16, 3)
    assert (grid[:16, :16] == 255).all()  # empty corner
    assert np.array_equal(grid[:16, 32:48], cols[1])
    assert np.array_equal(grid[48:64, :16], rows[2])
    assert np.array_equal(grid[32:48, 16:32], cells[1, 0])
    model = save_model(G, tmp_path / "tiny.safetensors")
    out = tmp_path / "mix.png"
    args = [
        "mix",
        str(model),
        "--rows",
        "1-3",
        "--cols",
        "10,11",
        "--styles",
        "coarse",
        "--device",
        "cpu",
        "-o",
        str(out),
    ]
    assert main(args) == 0
    assert np.array_equal(np.asarray(Image.open(out)), grid)
    assert main([*args[:-2], "--styles", "fine", "-o", str(out)]) == 2  # 16 px: no fine layers
