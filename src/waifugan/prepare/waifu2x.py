"""waifu2x UpConv7 (anime style, 2x) in PyTorch, loading the original waifu2x-chainer .npz.

The network has no padding inside: six 3x3 valid convolutions (LeakyReLU 0.1) shrink the
input by 12 px, then a 4x4 stride-2 transposed convolution with padding 3 maps n px to
2n - 4. So an input tile padded by OFFSET_PX = 7 px on every side (edge replication, as
waifu2x-chainer's reconstruct does) gives exactly twice the unpadded tile size, which is what
makes tiled and untiled results identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from waifugan.assets import asset_path
from waifugan.errors import AssetError
from waifugan.prepare.config import WAIFU2X_WEIGHTS_ASSET as WEIGHTS_ASSET

OFFSET_PX = 7  # input padding per side: 14 px of output offset at inner scale 2
_CHANNELS = (3, 16, 32, 64, 128, 256, 256)


class UpConv7(nn.Module):
    """waifu2x UpConv7: [N, 3, H+14, W+14] float in [0, 1] → [N, 3, 2H, 2W]."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv2d(c_in, c_out, 3)
            for c_in, c_out in zip(_CHANNELS[:-1], _CHANNELS[1:], strict=True)
        )
        self.deconv = nn.ConvTranspose2d(256, 3, 4, stride=2, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale a padded batch; see the module docstring for the size arithmetic."""
        for conv in self.convs:
            x = nn.functional.leaky_relu(conv(x), 0.1)
        return self.deconv(x)


def load_upconv7(weights: str | Path | None = None, model: str = "scale") -> UpConv7:
    """UpConv7 with weights from a waifu2x-chainer .npz (keys convN/W, convN/b; conv7 has no
    bias). `weights` overrides the asset; `model` picks "scale" or "noise1"."""
    path = asset_path(WEIGHTS_ASSET[model], weights)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError) as error:
        raise AssetError(f"{path}: not a waifu2x .npz weight file ({error})") from None
    net = UpConv7()
    state: dict[str, torch.Tensor] = {}
    for i in range(6):
        state[f"convs.{i}.weight"] = torch.from_numpy(arrays.get(f"conv{i + 1}/W", np.empty(0)))
        state[f"convs.{i}.bias"] = torch.from_numpy(arrays.get(f"conv{i + 1}/b", np.empty(0)))
    state["deconv.weight"] = torch.from_numpy(arrays.get("conv7/W", np.empty(0)))
    expected = net.state_dict()
    for key, tensor in state.items():
        if tensor.shape != expected[key].shape:
            raise AssetError(
                f"{path}: {key} has shape {tuple(tensor.shape)}, expected "
                f"{tuple(expected[key].shape)} (is this an UpConv7 RGB model?)"
            )
    net.load_state_dict(state)
    return net.eval()


@torch.no_grad()
def upscale2x(
    net: UpConv7, rgb: np.ndarray, tile_px: int = 128, device: str | torch.device = "cpu"
) -> np.ndarray:
    """Upscale [H, W, 3] uint8 RGB to [2H, 2W, 3] uint8, in tiles of tile_px input pixels.

    Each tile is read with OFFSET_PX of context on every side (edge-replicated at the image
    border), so the output does not depend on the tile size and memory stays bounded.
    """
    height, width = rgb.shape[:2]
    dev = torch.device(device)
    if next(net.parameters()).device != dev:
        net.to(dev)
    padded = np.pad(rgb, ((OFFSET_PX, OFFSET_PX), (OFFSET_PX, OFFSET_PX), (0, 0)), mode="edge")
    src = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1))).to(dev)
    out = np.empty((2 * height, 2 * width, 3), dtype=np.uint8)
    for top in range(0, height, tile_px):
        for left in range(0, width, tile_px):
            tile_h, tile_w = min(tile_px, height - top), min(tile_px, width - left)
            # [1, 3, tile_h + 14, tile_w + 14] float32 in [0, 1]
            x = src[:, top : top + tile_h + 2 * OFFSET_PX, left : left + tile_w + 2 * OFFSET_PX]
            y = net(x.unsqueeze(0).float() / 255.0)[0]  # [3, 2 tile_h, 2 tile_w]
            y8 = (y.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            out[2 * top : 2 * (top + tile_h), 2 * left : 2 * (left + tile_w)] = y8
    return out
