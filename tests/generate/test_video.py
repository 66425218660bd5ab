"""Video encoding layer: MP4/GIF/PNG output decoded back; latent-walk videos from a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from waifugan.errors import WaifuganError
from waifugan.generate.video import (
    VideoWriter,
    iter_video_frames,
    probe_video,
    video_format,
    write_video,
)


def _frames(n: int, h: int = 32, w: int = 48) -> np.ndarray:
    # smooth gradients that drift: compress well, and every frame differs
    y, x = np.mgrid[0:h, 0:w]
    out = np.stack([np.stack([x * 4 + t * 8, y * 6, 255 - x * 3 - t * 4], -1) for t in range(n)])
    return np.clip(out, 0, 255).astype(np.uint8)


def test_mp4_is_h264_yuv420p_and_decodes_back(tmp_path: Path) -> None:
    frames = _frames(12)
    out = tmp_path / "clip.mp4"
    writer = write_video(iter([frames[:5], frames[5:]]), out, fps=24)  # two streamed batches
    assert writer.frames_written == 12
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height, info.fps) == (12, 48, 32, 24.0)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    decoded = np.stack(list(iter_video_frames(out)))
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames).mean() < 3  # lossy but close (crf 18)


def test_odd_size_is_padded_not_rescaled(tmp_path: Path) -> None:
    frames = _frames(3, h=17, w=15)
    write_video([frames], tmp_path / "odd.mp4", fps=10)
    info = probe_video(tmp_path / "odd.mp4")
    assert (info.width, info.height) == (16, 18)
    first = next(iter_video_frames(tmp_path / "odd.mp4"))
    assert np.abs(first[:17, :15].astype(int) - frames[0]).mean() < 3


def test_gif_and_png_folder(tmp_path: Path) -> None:
    frames = _frames(6)
    write_video([frames], tmp_path / "a.gif", fps=10)
    info = probe_video(tmp_path / "a.gif")
    assert (info.num_frames, info.width, info.height, info.codec) == (6, 48, 32, "gif")
    write_video([frames[:2], frames[2:]], tmp_path / "pngs", fps=10)
    files = sorted((tmp_path / "pngs").glob("*.png"))
    assert [f.name for f in files][:2] == ["frame000000.png", "frame000001.png"]
    assert len(files) == 6
    assert np.array_equal(np.asarray(Image.open(files[4])), frames[4])  # PNG is exact


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    with pytest.raises(WaifuganError, match="differs from the first"), VideoWriter(out, 10) as w:
        w.write(_frames(2))
        w.write(_frames(1, h=16, w=16))
    assert list(tmp_path.iterdir()) == []


def test_bad_arguments() -> None:
    assert video_format("a.MP4") == "mp4" and video_format("frames") == "png"
    with pytest.raises(WaifuganError, match="unsupported"):
        video_format("a.webm")
    with pytest.raises(WaifuganError, match="fps"):
        VideoWriter("a.mp4", 0)
    with pytest.raises(WaifuganError, match="uint8"):
        VideoWriter("a.mp4", 10).write(np.zeros((1, 4, 4, 3), np.float32))
