"""The tagger: a small multi-label CNN that sees Danbooru-style tags (`glasses`, `red_hair`) in
a face, saved as one self-describing .safetensors file (weights + config + tag list).

Like the generator's model file, a tagger file is plain tensors plus JSON metadata: loading it
never executes code. `save_pretrained`-style helpers live here, next to the module, so the
training code never imports an export module.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from waifugan.errors import WaifuganError
from waifugan.networks.tensor_file import read_tensor_file, write_tensor_file
from waifugan.pixels import is_valid_resolution

TAGGER_FORMAT = "waifugan-tagger"
TAGGER_VERSION = "1"


@dataclass(frozen=True)
class TaggerConfig:
    """Constructor arguments of the tagger; saved as JSON next to its weights."""

    tags: tuple[str, ...] = ()  # one output per tag, in this order
    img_resolution: int = 64  # input side in px (a power of two ≥ 8); other sizes are resized
    channel_base: int = 16  # channels of the first stage; doubled per stage...
    channel_max: int = 128  # ...up to this
    dropout: float = 0.2  # before the classifier: the 10k-image sets overfit without it

    def __post_init__(self) -> None:
        r = self.img_resolution
        if not is_valid_resolution(r, minimum=8):
            raise ValueError(f"img_resolution must be a power of two ≥ 8, got {r}")
        if not self.tags:
            raise ValueError("a tagger needs at least one tag")
        if len(set(self.tags)) != len(self.tags):
            raise ValueError("tags must be unique")
        if self.channel_base < 1 or self.channel_max < self.channel_base:
            raise ValueError("need 1 ≤ channel_base ≤ channel_max")

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form for JSON/safetensors metadata."""
        return {**asdict(self), "tags": list(self.tags)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaggerConfig:
        """Inverse of to_dict."""
        return cls(**{**data, "tags": tuple(data.get("tags", ()))})


class _Stage(nn.Module):
    """Two 3x3 conv + BatchNorm + ReLU, then 2x2 max-pooling (VGG-style: halves the side)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn0(self.conv0(x)))
        x = F.relu(self.bn1(self.conv1(x)))
        return F.max_pool2d(x, 2)


class Tagger(nn.Module):
    """img [N, 3, R, R] float in [-1, 1] → logits [N, len(tags)] (independent sigmoids)."""

    def __init__(self, cfg: TaggerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        stages = []
        channels = 3
        # stages until the feature map is 4x4: 64 px → 4 stages, 32 px → 3
        for i in range(int(math.log2(cfg.img_resolution)) - 2):
            out_channels = min(cfg.channel_base * 2**i, cfg.channel_max)
            stages.append(_Stage(channels, out_channels))
            channels = out_channels
        self.stages = nn.Sequential(*stages)
        self.dropout = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(channels, len(cfg.tags))

    @property
    def tags(self) -> tuple[str, ...]:
        """Tag names, in output order."""
        return self.cfg.tags

    @property
    def device(self) -> torch.device:
        """Where the weights live."""
        return self.head.weight.device

    @property
    def feature_dim(self) -> int:
        """Length of the pooled feature vector the head reads."""
        return self.head.in_features

    def features(self, img: torch.Tensor) -> torch.Tensor:
        """img [N, 3, R, R] → pooled features [N, C]: what the head reads (tagfd's space)."""
        return self.stages(img).mean(dim=(2, 3))  # [N, C, 4, 4] → global average pooling

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(img)))

    @torch.no_grad()
    def predict(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 [N, H, W, 3] faces (any square size) → tag probabilities [N, T] float32."""
        return self._per_batch(images, batch_size, lambda x: torch.sigmoid(self(x)), len(self.tags))

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """uint8 [N, H, W, 3] faces (any square size) → pooled features [N, C] float32."""
        return self._per_batch(images, batch_size, self.features, self.feature_dim)

    def _per_batch(
        self,
        images: np.ndarray,
        batch_size: int,
        fn: Callable[[torch.Tensor], torch.Tensor],
        width: int,
    ) -> np.ndarray:
        """`fn` on the tagger input of each batch of faces, in eval mode → float32 [N, width]."""
        was_training = self.training
        self.eval()
        out = []
        for i in range(0, len(images), batch_size):
            chunk = torch.from_numpy(np.array(images[i : i + batch_size], dtype=np.uint8))
            img = to_tagger_input(chunk.permute(0, 3, 1, 2), self.cfg.img_resolution)
            out.append(fn(img.to(self.device)).float().cpu())
        self.train(was_training)
        if not out:
            return np.zeros((0, width), dtype=np.float32)
        return torch.cat(out).numpy()


def to_tagger_input(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """uint8 [N, 3, H, W] → float [N, 3, R, R] in [-1, 1]; area-averaged when shrinking
    (the box filter prepare's whole-factor reductions approximate), bilinear when growing.
    Training and inference both go through here, so a face is seen the same way by both."""
    img = images.float() / 127.5 - 1
    side = img.shape[-1]
    if side > resolution:
        img = F.interpolate(img, size=(resolution, resolution), mode="area")
    elif side < resolution:
        img = F.interpolate(
            img, size=(resolution, resolution), mode="bilinear", align_corners=False
        )
    return img


@dataclass
class TaggerFile:
    """A loaded tagger and the facts saved with it (e.g. its held-out precision/recall)."""

    tagger: Tagger
    path: Path
    extra: dict[str, Any] = field(default_factory=dict)


def save_tagger(
    tagger: Tagger, path: str | os.PathLike[str], extra: dict[str, Any] | None = None
) -> Path:
    """Write the tagger's weights to .safetensors with its config (tags included) and `extra`
    (JSON, e.g. the evaluation report) in the metadata; atomic (temp file + rename)."""
    metadata = {
        "format": TAGGER_FORMAT,
        "version": TAGGER_VERSION,
        "config": json.dumps(tagger.cfg.to_dict()),
        "extra": json.dumps(extra or {}),
    }
    return write_tensor_file(path, tagger.state_dict(), metadata)


def load_tagger(path: str | os.PathLike[str], device: Any = "cpu") -> TaggerFile:
    """A tagger (eval mode, on device) from a file written by save_tagger; bad files are
    refused with a WaifuganError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise WaifuganError(f"{path}: no such tagger file")
    state, metadata = read_tensor_file(path)
    if metadata.get("format") != TAGGER_FORMAT or "config" not in metadata:
        raise WaifuganError(f"{path}: not a waifugan tagger (no tagger config in its metadata)")
    try:
        cfg = TaggerConfig.from_dict(json.loads(metadata["config"]))
        extra = json.loads(metadata.get("extra", "{}"))
        tagger = Tagger(cfg)
        tagger.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as error:  # RuntimeError: names/shapes differ
        message = str(error).splitlines()[0]
        raise WaifuganError(f"{path}: tagger config and weights disagree ({message})") from error
    tagger = tagger.eval().requires_grad_(False).to(device)
    return TaggerFile(tagger, path, extra if isinstance(extra, dict) else {})
