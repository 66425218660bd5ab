"""Projection: find the latent (w or W+, plus noise maps) that makes G draw a given image.

Follows the StyleGAN2 paper's projector (Karras et al. 2020, appendix D): start near the mean
w (the closest of w_avg and 64 samples), optimize w and the noise maps with Adam, perturb w
with noise that ramps down over the first 75% of steps, ramp the learning rate up over 5% and
down (cosine) over the last 25%, and keep the noise maps from hiding image content with a
multi-scale autocorrelation penalty. The distance is pixel MSE at three scales, optionally plus an
LPIPS-style distance on Inception-v3 feature maps (the FID network asset, so it runs offline).
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from waifugan.errors import WaifuganError
from waifugan.generate.video import VideoWriter
from waifugan.networks.generator import Generator
from waifugan.networks.sampling import to_uint8
from waifugan.pixels import save_image

DISTANCES = ("pixel", "inception")


@dataclass(frozen=True)
class ProjectConfig:
    """Options of `waifugan project` (defaults from the StyleGAN2 projector)."""

    steps: int = 500
    seed: int = 0  # initial noise maps and the w perturbation
    w_plus: bool = False  # optimize one w per layer (closer fit, less editable) instead of one w
    distance: str = "pixel"  # "pixel": multi-scale MSE; "inception": plus Inception features
    lr: float = 0.1
    initial_noise_factor: float = 0.05  # w perturbation, × the spread of W
    noise_ramp_length: float = 0.75  # fraction of steps over which the perturbation fades
    lr_rampdown_length: float = 0.25
    lr_rampup_length: float = 0.05
    regularize_noise_weight: float = 1e5
    w_avg_samples: int = 10000  # z samples for the mean and spread of W
    start_candidates: int = 64  # start from the closest of w_avg and this many sampled ws
    save_video: bool = False  # proj.mp4: target | reconstruction at every step
    device: str = "auto"

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise WaifuganError(f"--steps must be at least 1, got {self.steps}")
        if self.distance not in DISTANCES:
            raise WaifuganError(f"--distance must be one of {DISTANCES}, got {self.distance!r}")


def load_target(path: str | os.PathLike[str], resolution: int) -> np.ndarray:
    """The image as [res, res, 3] uint8: RGB on white, centre-cropped square, Lanczos-resized."""
    path = Path(path)
    try:
        with Image.open(path) as opened:
            opened.load()
            img = opened.convert("RGBA")
    except (OSError, UnidentifiedImageError) as error:
        raise WaifuganError(f"{path}: cannot read as an image ({error})") from error
    flat = Image.new("RGBA", img.size, (255, 255, 255, 255))
    img = Image.alpha_composite(flat, img).convert("RGB")
    side = min(img.size)
    left, top = (img.width - side) // 2, (img.height - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != resolution:
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS)
    return np.asarray(img)


def multiscale_mse(img: torch.Tensor, target: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """Mean of pixel MSEs at full, 1/2 and 1/4 size: low frequencies count more (less blur)."""
    loss = img.new_zeros(())
    for _ in range(scales):
        loss = loss + F.mse_loss(img, target)
        if img.shape[-1] < 8:
            break
        img, target = F.avg_pool2d(img, 2), F.avg_pool2d(target, 2)
    return loss / scales


class InceptionDistance:
    """LPIPS-style distance on Inception-v3 feature maps (unit-normalized channels, no learned
    weights) from the FID network in the assets, which is available offline."""

    LAYERS = ("conv_2", "conv_4", "mixed_2")  # 147, 71 and 35 px maps at 299 px input
    INPUT_PX = 160  # cheaper than 299; the maps above stay spatial (38, 17, 8 px)

    def __init__(self, device: torch.device) -> None:
        from waifugan.assets import asset_path
        from waifugan.metrics.features import load_inception

        module = load_inception(str(asset_path("inception-2015-12-05-fid.pt")), str(device))
        self.layers = module.net.layers
        self.target_feats: list[torch.Tensor] = []

    def features(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Normalized feature maps of [N, 3, H, W] images in [-1, 1]."""
        x = F.interpolate(
            img, size=(self.INPUT_PX, self.INPUT_PX), mode="bilinear", align_corners=False
        )
        feats = []
        for name, layer in self.layers.named_children():
            x = layer(x)
            if name in self.LAYERS:
                feats.append(x / (x.square().sum(1, keepdim=True).sqrt() + 1e-10))
            if name == self.LAYERS[-1]:
                break
        return feats

    def __call__(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not self.target_feats:
            with torch.no_grad():
                self.target_feats = self.features(target)
        loss = img.new_zeros(())
        for a, b in zip(self.features(img), self.target_feats, strict=True):
            loss = loss + (a - b).square().sum(1).mean()
        return loss / len(self.LAYERS)


def noise_regularization(noises: list[torch.Tensor]) -> torch.Tensor:
    """Squared autocorrelation of each noise map at shifts of 1 px, over a pyramid down to 8 px."""
    loss = noises[0].new_zeros(())
    for noise in noises:
        x = noise[None, None]
        while True:
            loss = loss + (x * torch.roll(x, 1, dims=3)).mean() ** 2
            loss = loss + (x * torch.roll(x, 1, dims=2)).mean() ** 2
            if x.shape[-1] <= 8:
                break
            x = F.avg_pool2d(x, 2)
    return loss


def _learning_rate(cfg: ProjectConfig, step: int) -> float:
    """Cosine ramp-down over the last 25% of steps, linear ramp-up over the first 5%."""
    t = step / cfg.steps
    ramp = min(1.0, (1.0 - t) / cfg.lr_rampdown_length)
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    return cfg.lr * ramp * min(1.0, t / cfg.lr_rampup_length)


def noise_buffers(G: Generator) -> dict[str, torch.Tensor]:
    """The synthesis layers' constant noise maps by name ([R, R] each)."""
    return {name: buf for name, buf in G.named_buffers() if name.endswith("noise_const")}


@dataclass
class Projection:
    """The found latent and how close its image is to the target."""

    ws: np.ndarray  # [num_ws, w_dim] float32
    noises: dict[str, np.ndarray]  # noise map name → [R, R] float32
    image: np.ndarray  # [H, W, 3] uint8 reconstruction
    target: np.ndarray  # [H, W, 3] uint8
    mse: float  # mean squared error in uint8 units (0..255)
    psnr_db: float
    losses: list[float]  # distance at each step


def _pixel_mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def psnr_db(mse: float) -> float:
    """Peak signal-to-noise ratio of 8-bit images from their MSE."""
    return float("inf") if mse == 0 else 10 * math.log10(255.0**2 / mse)


@torch.no_grad()
def w_statistics(
    G: Generator, num_samples: int, gen: torch.Generator
) -> tuple[torch.Tensor, float]:
    """Mean w [1, w_dim] and the RMS distance of w from it, from untruncated samples."""
    z = torch.randn(num_samples, G.z_dim, generator=gen).to(G.device)
    w = G.mapping(z)[:, 0]  # [N, w_dim]
    w_avg = w.mean(0, keepdim=True)
    return w_avg, float(((w - w_avg).square().sum() / num_samples).sqrt())


@torch.no_grad()
def _closest_start(
    G: Generator, w_avg: torch.Tensor, target: torch.Tensor, count: int, gen: torch.Generator
) -> torch.Tensor:
    """Of w_avg and `count` sampled ws (truncated halfway to w_avg), the one drawing closest
    to the target: gradient descent from the mean alone can stall in a poor basin."""
    z = torch.randn(count, G.z_dim, generator=gen).to(target.device)
    candidates = torch.cat([w_avg, G.mapping(z)[:, 0].lerp(w_avg, 0.5)])  # [1 + count, w_dim]
    best, best_dist = candidates[0], float("inf")
    for chunk in candidates.split(16):
        imgs = G.synthesis(chunk[:, None].expand(-1, G.num_ws, -1), noise_mode="const")
        dists = (imgs - target).square().mean(dim=(1, 2, 3))
        if float(dists.min()) < best_dist:
            best_dist, best = float(dists.min()), chunk[int(dists.argmin())]
    return best[None]  # [1, w_dim]


def project(
    G: Generator, target: np.ndarray, cfg: ProjectConfig, video: VideoWriter | None = None
) -> Projection:
    """Optimize w (or W+) and the noise maps so G draws `target` ([H, W, 3] uint8)."""
    device = G.device
    G_proj = copy.deepcopy(G).eval().requires_grad_(False)  # its noise maps get optimized
    gen = torch.Generator().manual_seed(cfg.seed)
    w_avg, w_std = w_statistics(G_proj, cfg.w_avg_samples, gen)
    noises = list(noise_buffers(G_proj).values())
    for noise in noises:
        noise.copy_(torch.randn(noise.shape, generator=gen).to(device))
    # uint8 u ↔ float (u - 127.5) / 127.5: the centre of the bin to_uint8 maps back to u
    target_t = (
        torch.from_numpy(np.array(target)).to(device).permute(2, 0, 1)[None].float() / 127.5 - 1
    )
    w_start = _closest_start(G_proj, w_avg, target_t, cfg.start_candidates, gen)
    w_opt = w_start[None].repeat(1, G.num_ws if cfg.w_plus else 1, 1).requires_grad_(True)
    for noise in noises:
        noise.requires_grad_(True)
    distance = InceptionDistance(device) if cfg.distance == "inception" else None
    optimizer = torch.optim.Adam([w_opt, *noises], betas=(0.9, 0.999), lr=cfg.lr)
    losses: list[float] = []
    for step in (bar := tqdm(range(cfg.steps), desc="project", unit="step")):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(cfg, step)
        t = step / cfg.steps
        w_noise_scale = (
            w_std * cfg.initial_noise_factor * max(0.0, 1 - t / cfg.noise_ramp_length) ** 2
        )
        w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale
        ws = (w_opt + w_noise).expand(-1, G.num_ws, -1)
        img = G_proj.synthesis(ws, noise_mode="const")  # [1, 3, H, W]
        dist = multiscale_mse(img, target_t)
        if distance is not None:
            dist = dist + distance(img, target_t)
        loss = dist + cfg.regularize_noise_weight * noise_regularization(noises)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # keep each noise map N(0, 1) so it cannot grow to carry content
            for noise in noises:
                noise.sub_(noise.mean()).div_(noise.std() + 1e-8)
        losses.append(float(dist.detach()))
        bar.set_postfix(dist=f"{losses[-1]:.4f}")
        if video is not None:
            video.write(np.concatenate([target, to_uint8(img)[0]], axis=1))
    with torch.no_grad():
        ws = w_opt.detach().expand(-1, G.num_ws, -1)
        image = to_uint8(G_proj.synthesis(ws, noise_mode="const"))[0]
    mse = _pixel_mse(image, target)
    return Projection(
        ws=ws[0].cpu().numpy().astype(np.float32),
        noises={n: b.detach().cpu().numpy() for n, b in noise_buffers(G_proj).items()},
        image=image,
        target=target,
        mse=mse,
        psnr_db=psnr_db(mse),
        losses=losses,
    )


def save_projection(proj: Projection, path: str | os.PathLike[str]) -> Path:
    """Write ws and the noise maps to a .npz (plain arrays; loads with allow_pickle=False)."""
    path = Path(path)
    arrays = {"ws": proj.ws, **{f"noise.{name}": value for name, value in proj.noises.items()}}
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


@torch.no_grad()
def synthesize_projection(G: Generator, path: str | os.PathLike[str]) -> np.ndarray:
    """Regenerate a saved projection's image, [H, W, 3] uint8."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise WaifuganError(f"{path}: cannot read as a projection .npz ({error})") from error
    ws = arrays.get("ws")
    if ws is None or ws.shape != (G.num_ws, G.w_dim):
        found = None if ws is None else ws.shape
        raise WaifuganError(
            f"{path}: 'ws' must be [{G.num_ws}, {G.w_dim}] for this model, got {found}"
        )
    G_proj = copy.deepcopy(G)
    for name, buf in noise_buffers(G_proj).items():
        noise = arrays.get(f"noise.{name}")
        if noise is None or noise.shape != tuple(buf.shape):
            raise WaifuganError(f"{path}: noise map {name} missing or not {tuple(buf.shape)}")
        buf.copy_(torch.from_numpy(noise))
    img = G_proj.synthesis(torch.from_numpy(ws)[None].to(G.device), noise_mode="const")
    return to_uint8(img)[0]


@dataclass(frozen=True)
class ProjectResult:
    """Files written by `project_image` and the reconstruction quality."""

    outdir: Path
    mse: float
    psnr_db: float


def project_image(
    model: str | os.PathLike[str],
    target_path: str | os.PathLike[str],
    outdir: str | os.PathLike[str],
    cfg: ProjectConfig,
) -> ProjectResult:
    """Project an image file: writes projected_w.npz, proj.png, target.png, projection.json
    (and proj.mp4 with --save-video) to outdir."""
    from waifugan import load
    from waifugan.devices import resolve_device

    G = load(model, device=resolve_device(cfg.device))
    target = load_target(target_path, G.img_resolution)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    if cfg.save_video:
        with VideoWriter(outdir / "proj.mp4", fps=30) as video:
            proj = project(G, target, cfg, video)
    else:
        proj = project(G, target, cfg)
    save_projection(proj, outdir / "projected_w.npz")
    save_image(proj.image, outdir / "proj.png")
    save_image(target, outdir / "target.png")
    report = {
        "target": str(target_path),
        "model": str(model),
        "mse_uint8": proj.mse,
        "psnr_db": proj.psnr_db,
        "final_distance": proj.losses[-1],
        "config": asdict(cfg),
    }
    (outdir / "projection.json").write_text(json.dumps(report, indent=2) + "\n")
    return ProjectResult(outdir, proj.mse, proj.psnr_db)
