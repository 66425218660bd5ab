"""Inception-v3 (2015-12-05) pool features of uint8 images, the features FID and KID are defined on.

Every image, real or generated, takes exactly the same path: uint8 RGB [N, H, W, 3] (the pixels a
PNG holds) -> float -> bilinear resize to 299x299 -> x / 128 - 1 -> Inception -> [N, 2048].
Generated images must be quantized to uint8 first (`G.sample` does that), so a model's FID does
not depend on whether its images were saved to disk in between.
"""

from __future__ import annotations

import functools
import os
import warnings
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from waifugan.assets import ASSETS, asset_path
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError

INCEPTION_ASSET = "inception-2015-12-05-fid.pt"
FEATURE_DIM = 2048
INCEPTION_RESOLUTION = 299  # input side of Inception-v3
RESIZE = "bilinear-antialias"  # named in cache keys and docs/metrics.md


class FeatureExtractor(Protocol):
    """Anything that maps uint8 images [N, H, W, 3] to float32 features [N, D]."""

    identity: str  # changes whenever the features would change (part of cache keys)
    batch_size: int

    def __call__(self, images: np.ndarray) -> np.ndarray: ...


@functools.lru_cache(maxsize=4)
def load_inception(path: str, device: str) -> torch.jit.ScriptModule:
    """The TorchScript FID Inception at `path` on `device`, in eval mode (cached; shared)."""
    # TorchScript archive: loading runs no Python code (unlike a pickle). torch >= 2.9 flags
    # torch.jit as deprecated; the published FID Inception exists only in this format.
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            model = torch.jit.load(path, map_location=device)
    except RuntimeError as error:
        raise WaifuganError(f"{path}: not a TorchScript Inception model ({error})") from error
    return model.eval()


def check_images(images: np.ndarray) -> None:
    """Refuse anything but uint8 RGB [N, H, W, 3]: features are defined on quantized pixels."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        kind = getattr(images, "dtype", type(images).__name__)
        raise WaifuganError(
            f"metrics need uint8 images [N, H, W, 3] (the pixels a PNG holds), got {kind}; "
            "quantize generated images first (G.sample / waifugan.networks.sampling.to_uint8)"
        )
    if images.ndim != 4 or images.shape[3] != 3:
        raise WaifuganError(f"metrics need images shaped [N, H, W, 3], got {list(images.shape)}")


def to_inception_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, 299, 299] in [-1, 0.9921875] (x / 128 - 1)."""
    # One memory layout whatever the input's strides (a transposed numpy view would otherwise
    # send the convolutions down another kernel and change features in the 6th digit);
    # channels-last because it is the faster layout for the CPU convolutions.
    x = images.permute(0, 3, 1, 2).to(torch.float32).contiguous(memory_format=torch.channels_last)
    if x.shape[2:] != (INCEPTION_RESOLUTION, INCEPTION_RESOLUTION):
        # Half-pixel centres; antialias only matters when shrinking (>299 px), where it
        # averages instead of skipping pixels. Upsampling is plain bilinear.
        size = (INCEPTION_RESOLUTION, INCEPTION_RESOLUTION)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return x / 128.0 - 1.0


class InceptionFeatures:
    """The standard FID feature extractor, batched, on any device."""

    def __init__(
        self,
        device: str | torch.device = "auto",
        batch_size: int = 64,
        model_path: str | os.PathLike[str] | None = None,
    ) -> None:
        if batch_size < 1:
            raise WaifuganError(f"feature batch size must be >= 1, got {batch_size}")
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.path = asset_path(INCEPTION_ASSET, override=model_path)
        self.model = load_inception(str(self.path), str(self.device))
        # A user-supplied model is not the standard one: keep its features apart in the cache.
        standard = model_path is None
        self.identity = (
            f"inception-{ASSETS[INCEPTION_ASSET].sha256[:16] if standard else self.path}-{RESIZE}"
        )

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] -> float32 features [N, 2048], in batches of `batch_size`."""
        check_images(images)
        out = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
        for start in range(0, len(images), self.batch_size):
            batch = torch.from_numpy(images[start : start + self.batch_size]).to(self.device)
            feats = self.model(to_inception_input(batch))  # [B, 2048]
            out[start : start + len(batch)] = feats.float().cpu().numpy()
        return out
