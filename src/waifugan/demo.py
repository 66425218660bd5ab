"""`make demo` / `waifugan demo`: the whole job on the built-in dataset in a few minutes.

Trains the small `cpu32` network on 600 built-in 32 px faces (DiceBear "adventurer" design by
Lisa Wischofsky, CC BY 4.0), exports the model and draws a grid of faces.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from waifugan.export import export_model
from waifugan.generate.images import GenerateOptions, generate_images
from waifugan.networks.sampling import DEFAULT_PSI
from waifugan.train.options import options_for_data
from waifugan.train.run import train

CREDIT = 'Training data: "Adventurer" design by Lisa Wischofsky, CC BY 4.0 (DiceBear).'


def builtin_dataset() -> Path:
    """Path of the built-in 32 px demo dataset shipped inside the package."""
    return Path(str(resources.files("waifugan") / "demo_data" / "adventurer-32.zip"))


@dataclass(frozen=True)
class DemoResult:
    """Where the demo wrote its outputs."""

    run_dir: Path
    model: Path
    grid: Path


def run_demo(
    outdir: str | Path = "demo-out", kimg: float = 15.0, device: str = "auto"
) -> DemoResult:
    """Train on the built-in data for `kimg`, export, and write a 8x4 grid at ψ=0.7."""
    outdir = Path(outdir)
    opts = options_for_data(dict(
        data=str(builtin_dataset()), outdir=str(outdir / "runs"), preset="cpu32", kimg=kimg,
        tick_kimg=1.0, snap=2, mirror=True, workers=0, device=device,
    ))  # fmt: skip
    run_dir = train(opts)
    model = export_model(run_dir, outdir / "model.safetensors")
    options = GenerateOptions(
        model=str(model), seeds=tuple(range(32)), psi=DEFAULT_PSI, outdir=str(outdir),
        grid_cols=8, singles=False, device=device,
    )  # fmt: skip
    generate_images(options)
    return DemoResult(run_dir, model, outdir / "grid.png")
