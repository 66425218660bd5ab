"""PrepareConfig: every option of `waifugan prepare`, validated once."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field

from waifugan.errors import WaifuganError
from waifugan.pixels import is_valid_resolution

UPSCALERS = ("auto", "waifu2x", "lanczos", "none")
RESIZE_FILTERS = ("lanczos", "box")
BORDER_MODES = ("clamp", "replicate", "reflect", "constant")
FIT_MODES = ("center-crop", "pad", "stretch")
FORMATS = ("png", "jpg")
RATINGS = ("g", "s", "q", "e")
WAIFU2X_WEIGHTS_ASSET = {
    "scale": "waifu2x/upconv7-anime-scale2x.npz",
    "noise1": "waifu2x/upconv7-anime-noise1-scale2x.npz",
}
WAIFU2X_MODELS = tuple(WAIFU2X_WEIGHTS_ASSET)


@dataclass(frozen=True)
class PrepareConfig:
    """Options of the prepare pipeline; stage order: sources → decode → faces → filters →
    dedup → upscale → resize → augment → write."""

    sources: tuple[str, ...]
    output: str  # OUT.zip or a folder
    resolution: int = 256  # output side in px, a power of two
    # sources / Danbooru metadata selection
    metadata: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # all required
    exclude_tags: tuple[str, ...] = ()  # none allowed
    ratings: tuple[str, ...] = ()  # empty: any rating
    min_score: int | None = None
    limit: int | None = None  # at most this many input images
    # decode
    max_pixels: int = 100_000_000  # decompression-bomb guard (width * height)
    # faces
    detect: bool = True
    cascade: str | None = None  # explicit cascade path, else the asset
    scale_factor: float = 1.1
    min_neighbors: int = 5
    detect_min_size: int = 24  # px, cascade minSize
    margin: float = 0.6  # crop side = box side * (1 + margin): hair and chin in frame
    shift_up: float = 0.1  # crop centre moved up by this fraction of the box: the fringe
    border: str = "clamp"  # crop leaving the image: move inside, or pad with this mode
    min_face: int = 32  # px, detected boxes smaller than this are dropped
    fit: str = "center-crop"  # non-square images with --no-detect
    # filters
    filter_blank: bool = True
    blank_std_max: float = 4.0  # luminance std (0..255) at or below which an image is blank
    filter_grayscale: bool = True
    gray_chroma_max: float = 6.0  # mean chroma (max-min of RGB, 0..255) of gray-looking images
    filter_monochrome: bool = True
    mono_spread_max: float = 0.015  # colour spread (filters.image_stats) of one-tint images
    min_size: int = 64  # px, short side of the decoded image
    # dedup
    dedup: bool = True
    dedup_distance: int = 4  # bits of the 64-bit pHash
    dedup_diff_max: float = 24.0  # confirm on 16x16 thumbnails (dedup.py); 255: pHash only
    # upscale / resize
    upscale: str = "auto"  # auto: waifu2x when its weights can be had, else Lanczos
    waifu2x_weights: str | None = None  # explicit .npz path, else the asset
    waifu2x_model: str = "scale"  # or noise1: with light JPEG-noise removal
    device: str = "cpu"  # torch device for waifu2x ("auto": CUDA when available)
    tile_size: int = 128  # waifu2x input tile side in px (memory bound)
    resize_filter: str = "lanczos"
    # augment
    augment: int = 0  # extra augmented copies per image
    seed: int = 0
    # write
    format: str = "png"
    quality: int = 95  # JPEG quality
    png_compress_level: int = 6  # zlib level of PNG outputs (Pillow's default)
    overwrite: bool = False
    report_dir: str | None = None  # default: <output>-report next to the output
    reject_sheet: bool = True
    # running
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    progress: bool = True

    def __post_init__(self) -> None:
        validate(self)

    def to_json(self) -> str:
        """Options as sorted JSON (the resume fingerprint)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    def fingerprint(self) -> str:
        """JSON of the options that change the dataset's bytes (not workers, progress)."""
        data = dataclasses.asdict(self)
        for volatile in ("workers", "progress", "overwrite", "report_dir", "reject_sheet"):
            data.pop(volatile)
        return json.dumps(data, sort_keys=True)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise WaifuganError(message)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    _check(value in choices, f"--{name} {value!r}: expected one of {', '.join(choices)}")


def validate(cfg: PrepareConfig) -> None:
    """Raise WaifuganError naming the first invalid option."""
    _check(len(cfg.sources) > 0, "no source given: pass at least one folder, zip or image")
    _check(bool(cfg.output), "--output is required")
    r = cfg.resolution
    _check(is_valid_resolution(r), f"--resolution {r}: must be a power of two >= 4")
    _check_choice("upscale", cfg.upscale, UPSCALERS)
    _check_choice("resize-filter", cfg.resize_filter, RESIZE_FILTERS)
    _check_choice("border", cfg.border, BORDER_MODES)
    _check_choice("fit", cfg.fit, FIT_MODES)
    _check_choice("format", cfg.format, FORMATS)
    _check_choice("waifu2x-model", cfg.waifu2x_model, WAIFU2X_MODELS)
    for rating in cfg.ratings:
        _check_choice("rating", rating, RATINGS)
    _check(cfg.workers >= 1, f"--workers {cfg.workers}: must be at least 1")
    _check(cfg.scale_factor > 1.0, f"--scale-factor {cfg.scale_factor}: must be > 1")
    _check(cfg.min_neighbors >= 0, f"--min-neighbors {cfg.min_neighbors}: must be >= 0")
    _check(cfg.detect_min_size >= 1, f"--detect-min-size {cfg.detect_min_size}: must be >= 1")
    _check(cfg.margin >= 0, f"--margin {cfg.margin}: must be >= 0")
    # The enlarged square must still contain the detected box after moving up.
    _check(
        0 <= cfg.shift_up <= cfg.margin / 2,
        f"--shift-up {cfg.shift_up}: must be between 0 and margin/2 ({cfg.margin / 2:g}) "
        "so the crop still contains the face",
    )
    _check(0 <= cfg.dedup_distance <= 32, f"--dedup-distance {cfg.dedup_distance}: 0..32")
    _check(cfg.dedup_diff_max >= 0, f"--dedup-diff-max {cfg.dedup_diff_max}: must be >= 0")
    _check(cfg.augment >= 0, f"--augment {cfg.augment}: must be >= 0")
    _check(1 <= cfg.quality <= 100, f"--quality {cfg.quality}: must be 1..100")
    _check(0 <= cfg.png_compress_level <= 9, "--png-compress-level: must be 0..9")
    _check(cfg.tile_size >= 16, f"--tile-size {cfg.tile_size}: must be >= 16")
    _check(cfg.max_pixels >= 1, f"--max-pixels {cfg.max_pixels}: must be >= 1")
    _check(cfg.limit is None or cfg.limit >= 1, f"--limit {cfg.limit}: must be >= 1")
    _check(cfg.mono_spread_max >= 0, f"--mono-spread-max {cfg.mono_spread_max}: must be >= 0")
