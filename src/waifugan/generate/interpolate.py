"""Latent-walk videos: faces morphing through the seeds' latents, alone or as a grid of walks.

The walk visits one keyframe per seed. In W (the default) the keyframes are the truncated
ws, so ψ is applied once and every frame stays in the well-trained region; in Z the frames
are interpolated in Z and each is mapped (and truncated), where slerp keeps the Gaussian's
norm. Frames are rendered in batches and streamed to the encoder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from waifugan.errors import WaifuganError
from waifugan.generate.video import DEFAULT_CRF, VideoWriter
from waifugan.networks.generator import Generator
from waifugan.networks.sampling import DEFAULT_PSI, seeds_to_z, to_uint8

SPACES = ("w", "z")
KINDS = ("auto", "linear", "slerp", "cubic")


@dataclass(frozen=True)
class InterpolateConfig:
    """Options of `waifugan interpolate`."""

    seeds: tuple[int, ...]  # keyframes; with a grid, len(seeds) / cells per walk
    frames_per_seed: int = 60  # frames from one keyframe to the next
    fps: float = 30.0
    psi: float = DEFAULT_PSI  # truncation ψ
    space: str = "w"  # "w": interpolate truncated ws; "z": interpolate z, then map
    kind: str = "auto"  # linear | slerp | cubic; auto = linear in W, slerp in Z
    loop: bool = False  # walk back to the first seed: the last frame is the first one again
    grid: tuple[int, int] = (1, 1)  # (rows, cols) of independent walks in one video
    batch_size: int = 8  # images per generator call
    noise_mode: str = "const"
    device: str = "auto"
    crf: int = DEFAULT_CRF

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise WaifuganError(f"--space must be one of {SPACES}, got {self.space!r}")
        if self.kind not in KINDS:
            raise WaifuganError(f"--kind must be one of {KINDS}, got {self.kind!r}")
        if self.frames_per_seed < 1:
            raise WaifuganError(f"--frames-per-seed must be at least 1, got {self.frames_per_seed}")
        rows, cols = self.grid
        if rows < 1 or cols < 1:
            raise WaifuganError(f"--grid {rows}x{cols}: rows and columns must be at least 1")
        cells = rows * cols
        if len(self.seeds) % cells or len(self.seeds) < 2 * cells:
            raise WaifuganError(
                f"--grid {rows}x{cols} has {cells} walks and needs at least 2 seeds per walk, "
                f"a multiple of {cells} in all (e.g. --seeds 0-{2 * cells - 1}); "
                f"got {len(self.seeds)}"
            )
        if self.batch_size < 1:
            raise WaifuganError(f"--batch-size must be at least 1, got {self.batch_size}")

    @property
    def interpolation(self) -> str:
        """The interpolation actually used (auto resolved)."""
        if self.kind != "auto":
            return self.kind
        return "linear" if self.space == "w" else "slerp"

    @property
    def num_frames(self) -> int:
        """Frames in the video: a walk ends on its last seed, a loop back on its first."""
        keys = len(self.seeds) // (self.grid[0] * self.grid[1])
        return len(walk_positions(keys, self.frames_per_seed, self.loop))


def _slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of vectors along the last dim; linear where a ∥ b."""
    a_unit = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    b_unit = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    omega = torch.acos((a_unit * b_unit).sum(-1, keepdim=True).clamp(-1, 1))
    sin_omega = torch.sin(omega)
    # (anti)parallel vectors: fall back to lerp; acos is too coarse near ±1 for a tighter bound
    parallel = sin_omega < 1e-4
    safe = torch.where(parallel, torch.ones_like(sin_omega), sin_omega)
    wa = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / safe)
    wb = torch.where(parallel, t, torch.sin(t * omega) / safe)
    out = wa * a + wb * b
    return torch.where((a == b).all(-1, keepdim=True), a, out)  # equal keys: exactly constant


def interpolate_keyframes(
    keys: torch.Tensor, positions: np.ndarray, kind: str, loop: bool
) -> torch.Tensor:
    """Latents at fractional keyframe positions.

    Args:
        keys: [K, ...] keyframe latents (z [K, z_dim] or ws [K, num_ws, w_dim]).
        positions: [F] float positions; p = 1.5 is halfway between keys[1] and keys[2].
        kind: "linear", "slerp" or "cubic" (Catmull-Rom, through every keyframe).
        loop: keys wrap around (key K is key 0); otherwise the path ends at keys[K-1].
    Returns:
        [F, ...] latents.
    """
    num_keys = keys.shape[0]
    pos = torch.as_tensor(positions, dtype=torch.float64)
    seg = pos.floor().long()
    if not loop:
        seg = seg.clamp(0, max(num_keys - 2, 0))
    t = (pos - seg).to(keys.dtype).view(-1, *([1] * (keys.dim() - 1)))

    def key(offset: int) -> torch.Tensor:
        index = seg + offset
        index = index % num_keys if loop else index.clamp(0, num_keys - 1)
        return keys[index]

    p1, p2 = key(0), key(1)
    if kind == "linear":
        return p1 + t * (p2 - p1)
    if kind == "slerp":
        return _slerp(p1, p2, t)
    if kind == "cubic":
        # Hermite form p1 + h01 (p2 - p1) + h10 m1 + h11 m2: exactly p1 when the keys are equal
        m1, m2 = (p2 - key(-1)) / 2, (key(2) - p1) / 2
        h01 = 3 * t**2 - 2 * t**3
        h10 = t**3 - 2 * t**2 + t
        h11 = t**3 - t**2
        return p1 + h01 * (p2 - p1) + h10 * m1 + h11 * m2
    raise WaifuganError(f"unknown interpolation {kind!r}; use linear, slerp or cubic")


def walk_positions(num_keys: int, frames_per_seed: int, loop: bool) -> np.ndarray:
    """[F] keyframe positions, one per frame, evenly spaced, including both ends.

    A loop runs through key K = key 0, so its last frame equals its first (the closing frame
    of the cycle).
    """
    segments = num_keys if loop else num_keys - 1
    return np.arange(segments * frames_per_seed + 1, dtype=np.float64) / frames_per_seed


@torch.no_grad()
def walk_frames(G: Generator, cfg: InterpolateConfig) -> Iterator[np.ndarray]:
    """Batches of video frames [B, rows*H, cols*W, 3] uint8 for the configured walk."""
    rows, cols = cfg.grid
    cells = rows * cols
    num_keys = len(cfg.seeds) // cells
    z = seeds_to_z(cfg.seeds, G.z_dim).to(G.device)  # [cells*K, z_dim]
    keys = z if cfg.space == "z" else G.mapping(z, psi=cfg.psi)  # or ws [cells*K, num_ws, w_dim]
    keys = keys.view(cells, num_keys, *keys.shape[1:])
    positions = walk_positions(num_keys, cfg.frames_per_seed, cfg.loop)
    frames_per_batch = max(1, cfg.batch_size // cells)
    res = G.img_resolution
    for start in range(0, len(positions), frames_per_batch):
        pos = positions[start : start + frames_per_batch]
        # [cells, B, ...] → [B*cells, ...] with the cells of one frame together
        lat = torch.stack(
            [interpolate_keyframes(k, pos, cfg.interpolation, cfg.loop) for k in keys]
        )
        lat = lat.transpose(0, 1).reshape(len(pos) * cells, *keys.shape[2:])
        ws = G.mapping(lat, psi=cfg.psi) if cfg.space == "z" else lat
        images = to_uint8(G.synthesis(ws, noise_mode=cfg.noise_mode))  # [B*cells, H, W, 3]
        grid = images.reshape(len(pos), rows, cols, res, res, 3).transpose(0, 1, 3, 2, 4, 5)
        yield np.ascontiguousarray(grid.reshape(len(pos), rows * res, cols * res, 3))


@dataclass(frozen=True)
class VideoResult:
    """A written video and where the time went."""

    path: Path
    num_frames: int
    seconds: float  # total wall time
    encode_seconds: float  # of which handing frames to the encoder

    @property
    def frames_per_s(self) -> float:
        """Frames per second of wall time, generation and encoding together."""
        return self.num_frames / max(self.seconds, 1e-9)


def render_walk(G: Generator, out: str | os.PathLike[str], cfg: InterpolateConfig) -> VideoResult:
    """Render the walk with G into `out` (.mp4, .gif, or a folder of PNGs)."""
    started = time.perf_counter()
    with (
        VideoWriter(out, cfg.fps, cfg.crf) as writer,
        tqdm(total=cfg.num_frames, desc="interpolate", unit="frame") as bar,
    ):
        for batch in walk_frames(G, cfg):
            writer.write(batch)
            bar.update(len(batch))
    elapsed = time.perf_counter() - started
    return VideoResult(Path(out), writer.frames_written, elapsed, writer.encode_seconds)


def interpolate_video(
    model: str | os.PathLike[str], out: str | os.PathLike[str], cfg: InterpolateConfig
) -> VideoResult:
    """Load a model and write its latent-walk video."""
    from waifugan import load
    from waifugan.devices import resolve_device

    G = load(model, device=resolve_device(cfg.device))
    return render_walk(G, out, cfg)


def parse_grid(text: str) -> tuple[int, int]:
    """ "3x4" → (3, 4) rows and columns."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise WaifuganError(f"grid {text!r} is not ROWSxCOLS like 3x3")
    return int(parts[0]), int(parts[1])
