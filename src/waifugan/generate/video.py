"""Video files: stream RGB frames to an MP4 (H.264, yuv420p), a GIF or a folder of PNGs.

FFmpeg comes from imageio-ffmpeg, which ships a static ffmpeg binary (with libx264) in its
wheel and talks to it over a pipe: no system FFmpeg and no compiled bindings to build. Frames
are written as they arrive, so memory stays bounded by one batch however long the video is.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import imageio_ffmpeg
import numpy as np
from PIL import Image

from waifugan.errors import WaifuganError

VideoFormat = Literal["mp4", "gif", "png"]

# H.264 constant rate factor: 18 is "visually lossless" for most content (x264 docs),
# and faces with fine hair lines band visibly above ~23.
DEFAULT_CRF = 18


def video_format(path: str | os.PathLike[str]) -> VideoFormat:
    """Output kind from the path: `.mp4`, `.gif`, or a folder of PNG frames (no suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".gif"):
        return "mp4" if suffix == ".mp4" else "gif"
    if suffix == "" or path.is_dir():
        return "png"
    raise WaifuganError(
        f"{path}: unsupported video output '{suffix}'; use .mp4, .gif, or a folder name "
        f"(no suffix) for PNG frames"
    )


def _partial_path(path: Path) -> Path:
    # Same suffix so ffmpeg picks the right muxer; renamed into place only when complete.
    return path.with_name(f".{path.stem}.partial{path.suffix}")


class VideoWriter:
    """Write frames one batch at a time; the file appears only when `close()` succeeds.

    Args:
        path: `x.mp4` (H.264 yuv420p, plays in browsers), `x.gif`, or a folder for PNGs.
        fps: frames per second.
        crf: H.264 quality (0 lossless .. 51 worst), MP4 only.
    """

    def __init__(self, path: str | os.PathLike[str], fps: float, crf: int = DEFAULT_CRF) -> None:
        if not fps > 0:
            raise WaifuganError(f"fps must be positive, got {fps}")
        if not 0 <= crf <= 51:
            raise WaifuganError(f"crf must be in 0..51, got {crf}")
        self.path = Path(path)
        self.format = video_format(self.path)
        self.fps = float(fps)
        self.crf = crf
        self.frames_written = 0
        self.encode_seconds = 0.0  # wall time spent handing frames to the encoder
        self.size: tuple[int, int] | None = None  # (width, height) of the first frame
        self._pipe: Generator[Any, Any, None] | None = None
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frames: np.ndarray) -> None:
        """Append frames: [N, H, W, 3] or [H, W, 3] uint8 RGB, all the size of the first."""
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise WaifuganError(
                f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {tuple(frames.shape)}"
            )
        height, width = frames.shape[1:3]
        if self.size is None:
            self.size = (width, height)
            self._open()
        elif self.size != (width, height):
            raise WaifuganError(
                f"{self.path}: frame size {width}x{height} differs from the first frame's "
                f"{self.size[0]}x{self.size[1]}"
            )
        started = time.perf_counter()
        for offset, frame in enumerate(frames):
            self._write_one(frame, self.frames_written + offset)
        self.encode_seconds += time.perf_counter() - started
        self.frames_written += len(frames)

    def _open(self) -> None:
        assert self.size is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.format == "png":
            # frames of an earlier, longer video would silently trail this one
            if self.path.is_dir() and any(self.path.glob("frame*.png")):
                raise WaifuganError(
                    f"{self.path}: already holds frame*.png files; use a new folder"
                )
            self.path.mkdir(parents=True, exist_ok=True)
            return
        width, height = self.size
        if self.format == "mp4":
            # yuv420p halves chroma resolution, so both sides must be even; pad by one pixel
            # rather than let ffmpeg rescale (which would blur every frame).
            size = (width + width % 2, height + height % 2)
            params = ["-crf", str(self.crf), "-preset", "medium", "-movflags", "+faststart"]
            pipe = imageio_ffmpeg.write_frames(
                str(_partial_path(self.path)),
                size,
                fps=self.fps,
                codec="libx264",
                pix_fmt_out="yuv420p",
                quality=None,
                macro_block_size=1,
                output_params=params,
            )
        else:
            # One palette per frame (stats_mode=single + new=1) lets ffmpeg encode each frame as
            # it arrives; a global palette would make ffmpeg hold the whole clip in memory.
            palette = "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1"
            pipe = imageio_ffmpeg.write_frames(
                str(_partial_path(self.path)),
                size=(width, height),
                fps=self.fps,
                codec="gif",
                pix_fmt_out="pal8",
                quality=None,
                macro_block_size=1,
                output_params=["-filter_complex", palette, "-loop", "0"],
            )
        pipe.send(None)  # start ffmpeg
        self._pipe = pipe

    def _write_one(self, frame: np.ndarray, index: int) -> None:
        if self.format == "png":
            Image.fromarray(frame).save(self.path / f"frame{index:06d}.png", compress_level=3)
            return
        assert self._pipe is not None and self.size is not None
        if self.format == "mp4" and (frame.shape[0] % 2 or frame.shape[1] % 2):
            frame = np.pad(
                frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)), "edge"
            )
        self._pipe.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        """Finish encoding and move the file into place."""
        if self._closed:
            return
        self._closed = True
        if self.frames_written == 0:
            raise WaifuganError(f"{self.path}: no frames were written")
        if self._pipe is not None:
            started = time.perf_counter()
            self._pipe.close()  # waits for ffmpeg to flush and exit
            self.encode_seconds += time.perf_counter() - started
            os.replace(_partial_path(self.path), self.path)

    def abort(self) -> None:
        """Stop ffmpeg and remove the partial file (after an error)."""
        if self._closed:
            return
        self._closed = True
        if self._pipe is not None:
            # the original error is the one to report, not ffmpeg's complaint about it
            with contextlib.suppress(Exception):
                self._pipe.close()
            _partial_path(self.path).unlink(missing_ok=True)


def write_video(
    batches: Iterator[np.ndarray] | list[np.ndarray],
    path: str | os.PathLike[str],
    fps: float,
    crf: int = DEFAULT_CRF,
) -> VideoWriter:
    """Stream batches of [N, H, W, 3] uint8 frames into `path`; returns the closed writer."""
    with VideoWriter(path, fps, crf) as writer:
        for batch in batches:
            writer.write(batch)
    return writer


@dataclass(frozen=True)
class VideoInfo:
    """What a decoder sees in a video file."""

    width: int
    height: int
    fps: float
    num_frames: int
    codec: str  # e.g. "h264", "gif"
    pix_fmt: str  # e.g. "yuv420p"


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Size, frame rate and exact frame count of an MP4/GIF (decodes every frame to count)."""
    path = Path(path)
    if not path.is_file():
        raise WaifuganError(f"{path}: no such video file")
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    num_frames = sum(1 for _ in reader)
    width, height = meta["size"]
    return VideoInfo(
        width=width,
        height=height,
        fps=float(meta["fps"]),
        num_frames=num_frames,
        codec=str(meta.get("codec", "")).strip(", "),
        pix_fmt=str(meta.get("pix_fmt", "")).split("(")[0],
    )


def iter_video_frames(path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
    """Decode a video file into [H, W, 3] uint8 RGB frames, one at a time."""
    reader = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgb24")
    meta = next(reader)
    width, height = meta["size"]
    for raw in reader:
        yield np.frombuffer(raw, dtype=np.uint8).reshape(height, width, 3)
