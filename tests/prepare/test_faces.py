"""Anime face detection and square crops on the real renpy-demo art."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from waifugan.prepare.decode import decode
from waifugan.prepare.faces import FaceDetector, face_crop, read_crop

SPRITES = ["eileen-concerned", "eileen-happy", "eileen-vhappy", "lucy-happy", "lucy-mad"]
CONCERTS = ["concert1", "concert2", "concert3"]


@pytest.fixture(scope="module")
def detector(assets_dir: Path) -> FaceDetector:
    return FaceDetector()


def _load(shared_dir: Path, name: str) -> np.ndarray:
    return decode((shared_dir / "data" / "renpy-demo" / f"{name}.png").read_bytes(), 10**8).rgb


def _check_crops(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
    height, width = rgb.shape[:2]
    for box in boxes:
        crop = face_crop(box, (height, width), margin=0.6, shift_up=0.1, border="clamp")
        x, y, w, h = box
        assert crop.left >= 0 and crop.top >= 0, (box, crop)
        assert crop.left + crop.side <= width and crop.top + crop.side <= height, (box, crop)
        assert crop.left <= x and crop.top <= y, (box, crop)
        assert crop.left + crop.side >= x + w and crop.top + crop.side >= y + h, (box, crop)
        assert read_crop(rgb, crop, "clamp").shape == (crop.side, crop.side, 3)


def test_sprites(shared_dir: Path, detector: FaceDetector) -> None:
    found = 0
    for name in SPRITES:
        rgb = _load(shared_dir, name)
        boxes = detector.detect(rgb)
        found += bool(boxes)
        _check_crops(rgb, boxes)
    assert found >= 4


def test_concert_scenes(shared_dir: Path, detector: FaceDetector) -> None:
    for name in CONCERTS:
        rgb = _load(shared_dir, name)
        boxes = detector.detect(rgb)
        assert len(boxes) >= 2, name
        _check_crops(rgb, boxes)


def test_detect_signature_on_plain_array(detector: FaceDetector) -> None:
    assert detector.detect(np.full((64, 64, 3), 255, np.uint8)) == []


def test_crop_at_image_edge_clamps_or_pads() -> None:
    rgb = np.asarray(Image.new("RGB", (100, 80), (10, 200, 30)))
    box = (0, 0, 40, 40)  # face in the top-left corner
    clamp = face_crop(box, (80, 100), margin=0.8, shift_up=0.1, border="clamp")
    assert (clamp.left, clamp.top, clamp.side) == (0, 0, 72)
    padded = face_crop(box, (80, 100), margin=0.8, shift_up=0.1, border="constant")
    assert padded.left < 0 and padded.top < 0 and padded.side == 72
    pixels = read_crop(rgb, padded, "constant")
    assert pixels.shape == (72, 72, 3)
    assert pixels[0, 0].tolist() == [255, 255, 255]  # padding
    assert pixels[-1, -1].tolist() == [10, 200, 30]  # image
    assert read_crop(rgb, padded, "replicate")[0, 0].tolist() == [10, 200, 30]


def test_crop_larger_than_image_shrinks_to_fit() -> None:
    crop = face_crop((10, 10, 60, 60), (80, 100), margin=0.8, shift_up=0.1, border="clamp")
    assert crop.side == 80 and crop.top == 0 and crop.left <= 10 and crop.left + 80 >= 70
