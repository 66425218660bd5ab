"""A video of training progress from a run directory's `fakesNNNNNN.png` snapshot grids."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError
from tqdm import tqdm

from waifugan.errors import WaifuganError
from waifugan.generate.video import DEFAULT_CRF, VideoWriter
from waifugan.train.rundir import FAKES_INIT_PNG, list_fakes


@dataclass(frozen=True)
class Snapshot:
    """One sample grid written during training; kimg None is the grid before training."""

    path: Path
    kimg: int | None

    @property
    def label(self) -> str:
        """Text drawn under the frame."""
        return "init" if self.kimg is None else f"kimg {self.kimg}"


def find_snapshots(run_dir: str | os.PathLike[str], include_init: bool = True) -> list[Snapshot]:
    """The run's snapshot grids ordered by kimg as a number (not by file name), init first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise WaifuganError(f"{run_dir}: not a run directory")
    # Sorted on the kimg number: names are zero-padded to 6 digits, but a long run passes
    # 999999 kimg and hand-made names need not be padded.
    snapshots = [Snapshot(path, kimg) for kimg, path in list_fakes(run_dir)]
    init = run_dir / FAKES_INIT_PNG
    if include_init and init.is_file():
        snapshots.insert(0, Snapshot(init, None))
    if not snapshots:
        raise WaifuganError(f"{run_dir}: no fakesNNNNNN.png snapshots (is this a training run?)")
    return snapshots


@dataclass(frozen=True)
class ProgressVideoConfig:
    """Options of `waifugan progress-video`."""

    fps: float = 5.0  # snapshots per second
    size: int | None = None  # frame width in px; None = the widest snapshot's width
    include_init: bool = True  # start with fakes_init.png (the untrained generator)
    hold_last_s: float = 1.0  # keep the final snapshot on screen this long
    crf: int = DEFAULT_CRF


@dataclass
class ProgressVideoResult:
    """What was written and what was skipped (unreadable snapshots, with the reason)."""

    path: Path
    num_frames: int
    snapshots: list[Snapshot] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _frame_geometry(snapshots: list[Snapshot], width_px: int | None) -> tuple[int, int]:
    """(width, height) of the image area: the largest snapshot's aspect, even sides."""
    sizes = []
    for snap in snapshots:
        try:
            with Image.open(snap.path) as img:
                sizes.append(img.size)
        except (OSError, UnidentifiedImageError):
            continue  # reported when the frame is rendered
    if not sizes:
        raise WaifuganError(f"{snapshots[0].path.parent}: none of the snapshots can be read")
    largest_w, largest_h = max(sizes, key=lambda wh: wh[0] * wh[1])
    width = width_px or largest_w
    if width < 16:
        raise WaifuganError(f"--size {width} is too small (at least 16 px)")
    height = round(width * largest_h / largest_w)
    return width + width % 2, height + height % 2


def render_frame(snap: Snapshot, width: int, height: int) -> np.ndarray:
    """The snapshot fitted into width x height on black, with its label in a band below.

    Returns [height + band, width, 3] uint8.
    """
    band = max(12, round(width / 24)) // 2 * 2  # label band height, even for yuv420p
    canvas = Image.new("RGB", (width, height + band), (0, 0, 0))
    with Image.open(snap.path) as opened:
        rgb = opened.convert("RGB")
    scale = min(width / rgb.width, height / rgb.height)
    fitted = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    rgb = rgb.resize(fitted, Image.Resampling.LANCZOS)
    canvas.paste(rgb, ((width - fitted[0]) // 2, (height - fitted[1]) // 2))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=max(8, round(band * 0.7)))
    draw.text(
        (width // 2, height + band // 2), snap.label, fill=(255, 255, 255), font=font, anchor="mm"
    )
    return np.asarray(canvas)


def progress_video(
    run_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    cfg: ProgressVideoConfig = ProgressVideoConfig(),
) -> ProgressVideoResult:
    """Write the run's snapshots in kimg order, one labelled frame each, to `out`."""
    if not cfg.fps > 0:
        raise WaifuganError(f"--fps must be positive, got {cfg.fps}")
    snapshots = find_snapshots(run_dir, cfg.include_init)
    width, height = _frame_geometry(snapshots, cfg.size)
    result = ProgressVideoResult(Path(out), 0)
    last: np.ndarray | None = None
    with VideoWriter(out, cfg.fps, cfg.crf) as writer:
        for snap in tqdm(snapshots, desc="progress video", unit="frame"):
            try:
                last = render_frame(snap, width, height)
            except (OSError, UnidentifiedImageError, ValueError) as error:
                # A snapshot cut short by a crash must not sink the whole video.
                tqdm.write(f"skipping {snap.path}: {error}")
                result.skipped.append((snap.path, str(error)))
                continue
            writer.write(last)
            result.snapshots.append(snap)
        if last is None:
            raise WaifuganError(f"{Path(run_dir)}: none of the snapshots can be read")
        extra = round(cfg.hold_last_s * cfg.fps) - 1
        if extra > 0:
            writer.write(np.repeat(last[None], extra, axis=0))
    result.num_frames = writer.frames_written
    return result
