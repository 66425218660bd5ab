"""Anime face detection (lbpcascade_animeface via OpenCV) and square face crops."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from waifugan.assets import asset_path
from waifugan.errors import AssetError

Box = tuple[int, int, int, int]  # x, y, w, h in px

CASCADE_ASSET = "lbpcascade_animeface.xml"
_CV2_BORDER = {
    "replicate": cv2.BORDER_REPLICATE,
    "reflect": cv2.BORDER_REFLECT_101,
    "constant": cv2.BORDER_CONSTANT,
}


class FaceDetector:
    """lbpcascade_animeface on the equalized grayscale image (nagadomi's recipe)."""

    def __init__(
        self,
        cascade_path: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
    ) -> None:
        path = asset_path(CASCADE_ASSET, cascade_path)
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise AssetError(f"{path}: not a valid OpenCV cascade file")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size = min_size

    def detect(self, rgb: np.ndarray) -> list[Box]:
        """Face boxes (x, y, w, h) in an [H, W, 3] uint8 RGB image, sorted top-left first."""
        gray = cv2.equalizeHist(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY))
        found = self.cascade.detectMultiScale(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size),
        )
        boxes = [
            (int(x), int(y), int(w), int(h)) for x, y, w, h in np.asarray(found).reshape(-1, 4)
        ]
        return sorted(boxes, key=lambda b: (b[1], b[0], b[2], b[3]))


@dataclass(frozen=True)
class Crop:
    """A square crop window; it may extend past the image when a padding border is used."""

    left: int
    top: int
    side: int

    def as_list(self) -> list[int]:
        """[left, top, side] for the manifest."""
        return [self.left, self.top, self.side]


def _place(desired: float, side: int, box_lo: int, box_hi: int, length: int) -> int:
    """Start of a window of `side` px along one axis: near `desired`, containing the box
    [box_lo, box_hi) and inside [0, length)."""
    lo = max(0, box_hi - side)
    hi = min(box_lo, length - side)
    return int(min(max(round(desired), lo), hi))


def face_crop(
    box: Box, image_hw: tuple[int, int], margin: float, shift_up: float, border: str
) -> Crop:
    """Enlarge a face box by `margin`, move it up by `shift_up` of its height, square it.

    With border "clamp" the square is moved (and if needed shrunk) to stay inside the image
    while still containing the box; other borders keep it centred and pad when reading.
    """
    x, y, w, h = box
    img_h, img_w = image_hw
    side = round(max(w, h) * (1.0 + margin))
    cx = x + w / 2.0
    cy = y + h / 2.0 - shift_up * h
    if border != "clamp":
        return Crop(round(cx - side / 2.0), round(cy - side / 2.0), side)
    side = max(min(side, img_w, img_h), w, h)
    left = _place(cx - side / 2.0, side, x, x + w, img_w)
    top = _place(cy - side / 2.0, side, y, y + h, img_h)
    return Crop(left, top, side)


def read_crop(rgb: np.ndarray, crop: Crop, border: str) -> np.ndarray:
    """The crop's pixels [side, side, 3]; parts outside the image are filled per `border`."""
    img_h, img_w = rgb.shape[:2]
    x0, y0, x1, y1 = crop.left, crop.top, crop.left + crop.side, crop.top + crop.side
    inner = rgb[max(y0, 0) : min(y1, img_h), max(x0, 0) : min(x1, img_w)]
    pads = (max(-y0, 0), max(y1 - img_h, 0), max(-x0, 0), max(x1 - img_w, 0))
    if not any(pads):
        return np.ascontiguousarray(inner)
    mode = _CV2_BORDER.get(border, cv2.BORDER_REPLICATE)
    return cv2.copyMakeBorder(np.ascontiguousarray(inner), *pads, mode, value=(255, 255, 255))


def center_square(image_hw: tuple[int, int]) -> Crop:
    """The largest centred square of an image."""
    img_h, img_w = image_hw
    side = min(img_h, img_w)
    return Crop((img_w - side) // 2, (img_h - side) // 2, side)
