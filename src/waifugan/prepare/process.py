"""The per-image work done in a worker process: decode → faces → filters → upscale → resize →
hashes → encode → augment. Deduplication and writing happen in the parent, in input order."""

from __future__ import annotations

import hashlib
import io
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from waifugan.prepare.augment import augment, augment_rng
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.decode import DecodeError, decode
from waifugan.prepare.dedup import content_hash, phash, signature
from waifugan.prepare.dedup import thumb as dedup_thumb
from waifugan.prepare.faces import FaceDetector, center_square, face_crop, read_crop
from waifugan.prepare.filters import filter_reason, image_stats
from waifugan.prepare.png import encode_png
from waifugan.prepare.resize import fit_square, resize_square
from waifugan.prepare.sources import Item, ItemReader
from waifugan.prepare.upscale import upscale_to

if TYPE_CHECKING:  # torch is imported only by workers that run waifu2x
    from waifugan.prepare.waifu2x import UpConv7

THUMB_PX = 64  # side of the thumbnails kept for the rejects contact sheet


@dataclass
class Sample:
    """One output image (a face crop, or the whole image with --no-detect) before dedup."""

    face: int | None
    box: list[int] | None
    crop: list[int]
    data: bytes  # encoded PNG/JPEG
    pixel_sha256: str  # of the final pixels: exact duplicates
    phash: int
    thumb: bytes  # 16x16 RGB, confirms pHash matches
    stats: dict[str, float]
    upscale_doublings: int
    copies: list[tuple[bytes, dict[str, Any]]] = field(default_factory=list)  # augmented


@dataclass
class ItemResult:
    """Everything a worker learned about one input."""

    key: str
    file_sha256: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)  # stage, reason, face, thumb
    counts: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


class TorchNotAllowedError(Exception):
    """An input needs waifu2x in a worker told not to load torch."""


class Worker:
    """Per-process state: the reader, the face detector and waifu2x, built on first use."""

    def __init__(
        self, cfg: PrepareConfig, torch_threads: int | None = None, load_torch: bool = True
    ) -> None:
        self.cfg = cfg
        self.torch_threads = torch_threads  # 1 in pool workers: one image per core
        self.load_torch = load_torch
        self.reader = ItemReader()
        self._detector: FaceDetector | None = None
        self._net: UpConv7 | None = None
        self.device = "cpu"

    @property
    def detector(self) -> FaceDetector:
        """The cascade, loaded once per process."""
        if self._detector is None:
            cfg = self.cfg
            self._detector = FaceDetector(
                cfg.cascade, cfg.scale_factor, cfg.min_neighbors, cfg.detect_min_size
            )
        return self._detector

    @property
    def net(self) -> UpConv7 | None:
        """waifu2x when --upscale waifu2x, loaded once per process."""
        if self.cfg.upscale != "waifu2x":
            return None
        if self._net is None:
            if not self.load_torch:
                raise TorchNotAllowedError
            import torch

            from waifugan.devices import resolve_device
            from waifugan.prepare.waifu2x import load_upconv7

            if self.torch_threads is not None:
                torch.set_num_threads(self.torch_threads)

            self._net = load_upconv7(self.cfg.waifu2x_weights, self.cfg.waifu2x_model)
            self.device = str(resolve_device(self.cfg.device))
        return self._net

    def process(self, item: Item) -> ItemResult:
        """Run every per-image stage on one input; never raises for bad input."""
        result = ItemResult(key=item.key)
        try:
            self._process(item, result)
        except TorchNotAllowedError:
            raise
        except Exception as error:  # a bug or an exotic file must not stop a long job
            last = traceback.extract_tb(error.__traceback__)[-1]
            result.samples.clear()
            result.rejects.append(
                _reject(
                    "internal",
                    f"unexpected {type(error).__name__}: {error} "
                    f"({last.filename.rsplit('/', 1)[-1]}:{last.lineno})",
                )
            )
        result.seconds = {stage: round(sec, 6) for stage, sec in result.seconds.items()}
        return result

    def _process(self, item: Item, result: ItemResult) -> None:
        cfg = self.cfg
        timer = _Timer(result.seconds)
        with timer("read"):
            try:
                data = self.reader.read(item)
            except (OSError, KeyError) as error:
                result.rejects.append(_reject("read", f"cannot read: {error}"))
                return
        result.file_sha256 = content_hash(data)
        with timer("decode"):
            try:
                # With --no-detect only the centre square at the output size is needed.
                draft = cfg.resolution if not cfg.detect and cfg.fit != "pad" else None
                decoded = decode(data, cfg.max_pixels, draft_size=draft)
            except DecodeError as error:
                result.rejects.append(_reject("decode", str(error)))
                return
        rgb = decoded.rgb
        result.info = decoded.info
        result.counts["decoded"] = 1
        for face, box, crop, pixels in self._crops(rgb, result, timer):
            sample = self._sample(face, box, crop, pixels, item.key, result, timer)
            if sample is not None:
                result.samples.append(sample)

    def _crops(
        self, rgb: np.ndarray, result: ItemResult, timer: _Timer
    ) -> Iterator[tuple[int | None, list[int] | None, list[int], np.ndarray]]:
        cfg = self.cfg
        if not cfg.detect:
            result.counts["crops"] = 1
            square = center_square(rgb.shape[:2]) if cfg.fit == "center-crop" else None
            window = square.as_list() if square else [0, 0, max(rgb.shape[:2])]
            yield None, None, window, fit_square(rgb, cfg.fit)
            return
        with timer("faces"):
            boxes = self.detector.detect(rgb)
        result.counts["faces"] = len(boxes)
        if not boxes:
            result.rejects.append(_reject("faces", "no face found", thumb=_thumb(rgb)))
            return
        for face, box in enumerate(boxes):
            if max(box[2], box[3]) < cfg.min_face:
                reason = f"face too small: {max(box[2], box[3])} px < --min-face {cfg.min_face}"
                result.rejects.append(_reject("faces", reason, face=face))
                continue
            with timer("faces"):
                square = face_crop(box, rgb.shape[:2], cfg.margin, cfg.shift_up, cfg.border)
                pixels = read_crop(rgb, square, cfg.border)
            result.counts["crops"] = result.counts.get("crops", 0) + 1
            yield face, list(box), square.as_list(), pixels

    def _sample(
        self,
        face: int | None,
        box: list[int] | None,
        crop: list[int],
        pixels: np.ndarray,
        key: str,
        result: ItemResult,
        timer: _Timer,
    ) -> Sample | None:
        cfg = self.cfg
        with timer("filters"):
            small = signature(pixels)
            stats = image_stats(small)
            short_px = min(pixels.shape[:2])
            reason = None
            if short_px < cfg.min_size:
                reason = f"too small: short side {short_px} px < --min-size {cfg.min_size}"
            reason = reason or filter_reason(
                stats,
                blank_std_max=cfg.blank_std_max if cfg.filter_blank else None,
                gray_chroma_max=cfg.gray_chroma_max if cfg.filter_grayscale else None,
                mono_spread_max=cfg.mono_spread_max if cfg.filter_monochrome else None,
            )
        if reason is not None:
            thumb = _thumb(pixels)
            result.rejects.append(_reject("filters", reason, face=face, thumb=thumb, stats=stats))
            return None
        big, doublings = pixels, 0
        if min(pixels.shape[:2]) < cfg.resolution:  # torch + weights load on first need only
            with timer("upscale"):
                big, doublings = upscale_to(
                    pixels, cfg.resolution, self.net, cfg.tile_size, self.device
                )
        with timer("resize"):
            final = resize_square(big, cfg.resolution, cfg.resize_filter)
        with timer("hash"):
            sample = Sample(
                face=face,
                box=box,
                crop=crop,
                data=b"",
                pixel_sha256=hashlib.sha256(final.data).hexdigest(),
                phash=phash(small),
                thumb=dedup_thumb(small),
                stats=stats,
                upscale_doublings=doublings,
            )
        with timer("encode"):
            sample.data = encode(final, cfg)
        with timer("augment"):
            for copy in range(cfg.augment):
                rng = augment_rng(cfg.seed, f"{key}#{face}", copy)
                pixels_aug, params = augment(final, rng)
                sample.copies.append((encode(pixels_aug, cfg), params))
        return sample


def encode(rgb: np.ndarray, cfg: PrepareConfig) -> bytes:
    """Encode [S, S, 3] uint8 as PNG or JPEG bytes (deterministic for the same pixels)."""
    if cfg.format == "png":
        return encode_png(rgb, cfg.png_compress_level)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=cfg.quality)
    return buffer.getvalue()


def _thumb(rgb: np.ndarray) -> bytes:
    img = Image.fromarray(rgb)
    img.thumbnail((THUMB_PX, THUMB_PX))
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def _reject(stage: str, reason: str, **extra: Any) -> dict[str, Any]:
    return {"stage": stage, "reason": reason, **extra}


class _Timer:
    """Adds the wall time of `with timer(stage):` blocks into a dict (seconds per stage).

    A plain context manager rather than @contextmanager: it runs ten times per image."""

    def __init__(self, seconds: dict[str, float]) -> None:
        self.seconds = seconds
        self.stage = ""
        self.started = 0.0

    def __call__(self, stage: str) -> _Timer:
        self.stage = stage
        return self

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self.started
        self.seconds[self.stage] = self.seconds.get(self.stage, 0.0) + elapsed
