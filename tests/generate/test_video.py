"""Video encoding layer: MP4/GIF/PNG output decoded back; latent-walk videos from a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from waifugan.cli import main
from waifugan.errors import WaifuganError
from waifugan.generate.interpolate import (
    InterpolateConfig,
    render_walk,
    walk_frames,
)
from waifugan.generate.video import (
    VideoWriter,
    iter_video_frames,
    probe_video,
    video_format,
    write_video,
)
from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.networks.model_file import save_model


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


# ---- latent-walk videos from a tiny model -------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Generator, Path]:
    torch.manual_seed(0)
    cfg = GeneratorConfig(
        img_resolution=16, z_dim=32, w_dim=32, map_depth=2, channel_base=512, channel_max=32
    )
    G = Generator(cfg).eval().requires_grad_(False)
    return G, save_model(G, tmp_path_factory.mktemp("model") / "tiny.safetensors")


def test_walk_mp4_frames_size_fps_and_endpoints(
    tiny_model: tuple[Generator, Path], tmp_path: Path
) -> None:
    G, model = tiny_model
    out = tmp_path / "walk.mp4"
    args = ["interpolate", str(model), "--seeds", "1,5,9", "--frames-per-seed", "5",
            "--fps", "12", "--device", "cpu", "--crf", "0", "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height, info.fps) == (11, 16, 16, 12.0)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    frames = np.stack(list(iter_video_frames(out))).astype(int)
    faces = G.sample([1, 5, 9], psi=0.7).astype(int)
    # keyframes land on the seeds' faces; yuv420p halves colour resolution even at crf 0,
    # which costs a 16 px face a lot, so check each keyframe is far closer to its own face
    for i, frame in enumerate(frames[[0, 5, 10]]):
        errors = [np.abs(frame - face).mean() for face in faces]
        assert (
            np.argmin(errors) == i
            and errors[i] < 12
            and errors[i] < min(errors[:i] + errors[i + 1 :]) / 2
        )
    assert np.abs(frames[0] - frames[-1]).mean() > 20  # a walk, not a loop


def test_looped_walk_first_and_last_frames_meet(
    tiny_model: tuple[Generator, Path], tmp_path: Path
) -> None:
    G, _ = tiny_model
    cfg = InterpolateConfig(seeds=(1, 5, 9), frames_per_seed=6, loop=True, kind="cubic")
    result = render_walk(G, tmp_path / "loop", cfg)  # PNG frames: exact pixels
    frames = np.stack(
        [np.asarray(Image.open(p)) for p in sorted((tmp_path / "loop").glob("*.png"))]
    )
    assert result.num_frames == len(frames) == 19
    assert np.array_equal(frames[0], G.sample([1], psi=0.7)[0])
    assert np.array_equal(frames[-1], frames[0])  # the loop closes on its first frame
    steps = np.abs(np.diff(frames.astype(int), axis=0)).mean(axis=(1, 2, 3))
    assert steps[-1] <= steps.max() and steps[-1] > 0  # arriving back is an ordinary step


def test_walk_between_identical_seeds_is_constant(
    tiny_model: tuple[Generator, Path], tmp_path: Path
) -> None:
    G, model = tiny_model
    for space in ("w", "z"):
        cfg = InterpolateConfig(seeds=(7, 7), frames_per_seed=8, space=space, batch_size=3)
        frames = np.concatenate(list(walk_frames(G, cfg)))
        assert len(frames) == 9
        assert all(np.array_equal(f, frames[0]) for f in frames), space
    out = tmp_path / "still.mp4"
    assert main(["interpolate", str(model), "--seeds", "7,7", "--frames-per-seed", "4",
                 "--device", "cpu", "-o", str(out)]) == 0  # fmt: skip
    decoded = np.stack(list(iter_video_frames(out))).astype(int)
    assert len(decoded) == 5 and np.abs(decoded - decoded[0]).max() <= 1


def test_grid_of_walks(tiny_model: tuple[Generator, Path], tmp_path: Path) -> None:
    G, model = tiny_model
    out = tmp_path / "grid.gif"
    args = ["interpolate", str(model), "--seeds", "0-7", "--grid", "2x2", "--frames-per-seed",
            "3", "--loop", "--device", "cpu", "-o", str(out)]  # fmt: skip
    assert main(args) == 0
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height) == (7, 32, 32)  # 2 keys x 3 + closing
    cfg = InterpolateConfig(seeds=tuple(range(8)), grid=(2, 2), frames_per_seed=3, batch_size=5)
    first = next(iter(walk_frames(G, cfg)))[0]
    faces = G.sample([0, 2, 4, 6], psi=0.7)  # walk i starts at seeds[2 i]
    assert np.array_equal(first[:16, :16], faces[0]) and np.array_equal(first[:16, 16:], faces[1])
    assert np.array_equal(first[16:, :16], faces[2]) and np.array_equal(first[16:, 16:], faces[3])
    assert main([*args[:3], "0-6", *args[4:]]) == 2  # 7 seeds do not split into 4 walks
