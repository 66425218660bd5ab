"""Anime face rate: the share of images in which the anime face detector finds exactly one face
of reasonable size. Cheap, offline, and meaningful for anime-face models next to FID.

The detector is prepare's lbpcascade_animeface (equalized grayscale, scaleFactor 1.1,
minNeighbors 5, minSize 24 px). Its 24 px minimum window is most of a 64 px image, so images
whose shorter side is below DETECT_SIDE_PX are first upsampled (bilinear) to that side: the
smallest detectable face is then ~9% of the side whatever the model's resolution. A face counts
when its box side is at least MIN_FACE_FRACTION of the image's shorter side (smaller hits in a
face crop are false positives on hair or clothes).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np
from PIL import Image

from waifugan.errors import WaifuganError

DETECT_SIDE_PX = 256  # upsample smaller images to this shorter side before detecting
MIN_FACE_FRACTION = 0.1  # smallest counted face, as a fraction of the image's shorter side


class Detector(Protocol):
    """What waifugan.prepare.faces.FaceDetector provides."""

    def detect(self, rgb: np.ndarray) -> Sequence[tuple[int, int, int, int]]: ...


@functools.lru_cache(maxsize=1)
def _default_detector() -> Detector:
    from waifugan.prepare.faces import FaceDetector

    return FaceDetector()


def count_faces(
    image: np.ndarray,
    detector: Detector | None = None,
    min_face_fraction: float = MIN_FACE_FRACTION,
) -> int:
    """Number of faces of reasonable size in one uint8 RGB image [H, W, 3]."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise WaifuganError(
            f"face detection needs a uint8 RGB image [H, W, 3], got {image.dtype} "
            f"{list(image.shape)}"
        )
    detector = detector if detector is not None else _default_detector()
    short_px = min(image.shape[:2])
    if short_px < DETECT_SIDE_PX:
        scale = DETECT_SIDE_PX / short_px
        size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
        image = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))
        short_px = min(image.shape[:2])
    boxes = detector.detect(image)
    return sum(1 for (_x, _y, w, h) in boxes if min(w, h) >= min_face_fraction * short_px)


def anime_face_rate(
    images: Iterable[np.ndarray],
    detector: Detector | None = None,
    min_face_fraction: float = MIN_FACE_FRACTION,
) -> float:
    """Share of images [H, W, 3] (or batches [N, H, W, 3]) with exactly one face."""
    detector = detector if detector is not None else _default_detector()
    num_images = 0
    num_one_face = 0
    for item in images:
        batch = item[None] if item.ndim == 3 else item
        for image in batch:
            num_images += 1
            num_one_face += count_faces(image, detector, min_face_fraction) == 1
    if num_images == 0:
        raise WaifuganError("face rate: no images given")
    return num_one_face / num_images
