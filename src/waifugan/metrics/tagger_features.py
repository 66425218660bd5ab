"""Tagger features: the pooled features of a waifugan tagger, tagfd's feature space.

FID's Inception was trained on ImageNet, so a model (or a discriminator built on ImageNet
features) can lower FID without drawing better faces (Kynkäänniemi et al. 2023). The tagger
was trained on anime faces and their tags only; a Fréchet distance in its features is a second
opinion that shares none of Inception's training. Every image takes the tagger's own input path
(`to_tagger_input`: area-averaged when shrinking, bilinear when growing), real and generated
alike.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from waifugan.assets import sha256_of
from waifugan.bundled import bundled_model_path
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.metrics.features import check_images
from waifugan.networks.model_file import tagger_path
from waifugan.networks.tagger import load_tagger


def default_tagger_path() -> Path:
    """The bundled model's tagger (trained on the adventurer faces' tags)."""
    return tagger_path(bundled_model_path())


class TaggerFeatures:
    """uint8 images [N, H, W, 3] → a tagger's pooled features [N, C] float32, batched."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        device: str | torch.device = "auto",
        batch_size: int = 64,
    ) -> None:
        if batch_size < 1:
            raise WaifuganError(f"feature batch size must be >= 1, got {batch_size}")
        self.path = Path(path) if path is not None else default_tagger_path()
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.tagger = load_tagger(self.path, self.device).tagger  # eval mode, no gradients
        # The file's content names the space: a retrained tagger gets its own cached statistics.
        self.identity = f"tagger-{sha256_of(self.path)[:16]}"

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """uint8 [N, H, W, 3] → float32 features [N, C], in batches of `batch_size`."""
        check_images(images)
        return self.tagger.embed(images, self.batch_size)
