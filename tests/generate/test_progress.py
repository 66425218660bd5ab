"""progress-video: snapshots in kimg order, labelled, scaled to one size; bad files skipped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from waifugan.cli import main
from waifugan.errors import WaifuganError
from waifugan.generate.progress import ProgressVideoConfig, find_snapshots, progress_video
from waifugan.generate.video import iter_video_frames, probe_video

# kimg -> a colour unique to that snapshot; the names are chosen so that sorting them as
# strings gives a different order from sorting them by kimg.
SNAPSHOTS = {
    40: (255, 0, 0),
    200: (0, 255, 0),
    1000: (0, 0, 255),
    1000000: (255, 255, 0),
}
NAMES = {
    40: "fakes000040.png",
    200: "fakes200.png",
    1000: "fakes001000.png",
    1000000: "fakes1000000.png",
}


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "00003-faces-cpu"
    run.mkdir()
    for kimg, colour in SNAPSHOTS.items():
        # different sizes on purpose: the video scales them all to one size
        size = (64, 48) if kimg == 200 else (32, 24)
        Image.new("RGB", size, colour).save(run / NAMES[kimg])
    Image.new("RGB", (32, 24), (255, 255, 255)).save(run / "fakes_init.png")
    (run / "checkpoint-000040.pt").write_bytes(b"not a snapshot")
    return run


def test_snapshots_sorted_by_kimg_not_name(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    names_sorted = sorted(NAMES.values())
    assert names_sorted != [NAMES[k] for k in sorted(NAMES)]  # the test means something
    snaps = find_snapshots(run)
    assert [s.kimg for s in snaps] == [None, 40, 200, 1000, 1000000]
    assert [s.label for s in snaps][:2] == ["init", "kimg 40"]
    assert [s.kimg for s in find_snapshots(run, include_init=False)] == [40, 200, 1000, 1000000]


def _centre_colour(frame: np.ndarray) -> tuple[int, ...]:
    h, w = frame.shape[:2]
    return tuple(int(v) for v in frame[h // 3, w // 2])  # inside the image, above the label


def test_png_frames_in_kimg_order_with_labels(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    cfg = ProgressVideoConfig(size=64, hold_last_s=0, include_init=False)
    result = progress_video(run, tmp_path / "frames", cfg)
    assert result.num_frames == 4 and not result.skipped
    files = sorted((tmp_path / "frames").glob("frame*.png"))
    frames = [np.asarray(Image.open(f)) for f in files]
    assert [_centre_colour(f) for f in frames] == [SNAPSHOTS[k] for k in sorted(SNAPSHOTS)]
    assert {f.shape for f in frames} == {frames[0].shape}  # one common size
    assert frames[0].shape[1] == 64
    # the label band (below the image) holds white text pixels
    band = frames[0][48:]
    assert band.max() > 200 and band.shape[0] >= 12
    # labels differ between frames
    assert not np.array_equal(frames[0][48:], frames[3][48:])


def test_mp4_frame_count_size_fps(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    out = tmp_path / "progress.mp4"
    result = progress_video(run, out, ProgressVideoConfig(fps=4, size=64, hold_last_s=1.0))
    info = probe_video(out)
    assert result.num_frames == 5 + 3  # init + 4 snapshots + the last held for 1 s at 4 fps
    assert (info.num_frames, info.fps, info.width) == (8, 4.0, 64)
    colours = [_centre_colour(f) for f in iter_video_frames(out)]
    # H.264 is lossy: compare with a tolerance; order is init, 40, 200, 1000, 1000000
    expected = [(255, 255, 255)] + [SNAPSHOTS[k] for k in sorted(SNAPSHOTS)]
    for got, want in zip(colours, expected, strict=False):
        assert np.abs(np.subtract(got, want)).max() < 40, (got, want)


def test_corrupt_snapshot_is_skipped_with_reason(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    (run / "fakes000500.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    result = progress_video(run, tmp_path / "p.gif", ProgressVideoConfig(size=32, hold_last_s=0))
    assert [p.name for p, _ in result.skipped] == ["fakes000500.png"]
    assert result.num_frames == 5
    assert probe_video(tmp_path / "p.gif").num_frames == 5


def test_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(WaifuganError, match="no fakesNNNNNN.png"):
        progress_video(tmp_path, tmp_path / "x.mp4")
    with pytest.raises(WaifuganError, match="unsupported video output"):
        progress_video(_run_dir(tmp_path), tmp_path / "x.avi")


def test_cli(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    out = tmp_path / "frames"
    args = ["progress-video", str(run), "--no-init", "--hold", "0", "--size", "32", "-o", str(out)]
    assert main(args) == 0
    assert len(list(out.glob("frame*.png"))) == 4
    assert main(args) == 2  # refuses to mix new frames into an old folder
    assert main(["progress-video", str(tmp_path / "nope"), "-o", str(tmp_path / "x.mp4")]) == 2
