"""`make demo` / `waifugan demo`: the bundled model shown off, then the main job in miniature.

First (seconds): a grid at ψ 0.7, a latent-walk MP4 and a style-mixing grid from the bundled
model. Then the recipe on the built-in data: select the faces tagged `glasses` with
`prepare --tags`, fine-tune the bundled model on them (`train --init`, ADA, Freeze-D) and draw
the same seeds before and after. The built-in data is 600 faces of the DiceBear "adventurer"
style (design by Lisa Wischofsky, CC BY 4.0) with their Danbooru-style tags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from waifugan import load
from waifugan.bundled import CREDIT, bundled_model_path
from waifugan.devices import resolve_device
from waifugan.export import export_model
from waifugan.generate.images import GenerateOptions, generate_images
from waifugan.generate.interpolate import InterpolateConfig, interpolate_video
from waifugan.generate.mixing import MixConfig, style_mix
from waifugan.networks.sampling import DEFAULT_PSI
from waifugan.pixels import make_grid, save_image
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.pipeline import prepare
from waifugan.train.options import options_for_data
from waifugan.train.run import train

DEMO_TAG = "glasses"
BEFORE_AFTER_SEEDS = tuple(range(8))
FINE_TUNE_KIMG = 8.0  # 3-6 min on 2 CPU cores: enough for the tag to show in many faces


def builtin_dataset() -> Path:
    """The built-in raw source: 600 64 px faces with metadata.jsonl (Danbooru form) inside."""
    return Path(str(resources.files("waifugan") / "demo_data" / "adventurer-64.zip"))


@dataclass
class DemoResult:
    """Where the demo wrote its outputs (step name → path)."""

    outputs: dict[str, Path] = field(default_factory=dict)


def show_bundled(outdir: Path, device: str) -> dict[str, Path]:
    """Grid, latent walk and style mixing from the bundled model."""
    model = str(bundled_model_path())
    generate_images(GenerateOptions(
        model=model, seeds=tuple(range(32)), psi=DEFAULT_PSI, outdir=str(outdir), grid_cols=8,
        singles=False, device=device,
    ))  # fmt: skip
    walk = interpolate_video(model, outdir / "walk.mp4", InterpolateConfig(
        seeds=(0, 3, 7, 12), frames_per_seed=24, loop=True, device=device,
    ))  # fmt: skip
    mix, _ = style_mix(model, outdir / "mix.png", MixConfig(
        row_seeds=(1, 2, 3, 4), col_seeds=(10, 11, 12, 13, 14), styles="coarse", device=device,
    ))  # fmt: skip
    return {"grid": outdir / "grid.png", "walk": walk.path, "mix": mix}


def fine_tune_on_tag(outdir: Path, kimg: float, device: str) -> dict[str, Path]:
    """prepare --tags DEMO_TAG on the built-in data, then train --init from the bundled model."""
    data = builtin_dataset()
    dataset = prepare(PrepareConfig(
        sources=(str(data),), output=str(outdir / f"{DEMO_TAG}.zip"), resolution=64,
        metadata=(str(data),), tags=(DEMO_TAG,), detect=False, overwrite=True,
    ))  # fmt: skip
    opts = options_for_data(dict(
        data=str(dataset.output), outdir=str(outdir / "runs"), preset="cpu64", kimg=kimg,
        tick_kimg=1.0, snap=4, mirror=True, workers=0, device=device,
        init=str(bundled_model_path()), aug="ada", freezed=1,
    ))  # fmt: skip
    run_dir = train(opts)
    model = export_model(run_dir, outdir / f"{DEMO_TAG}.safetensors")
    before_after = outdir / "before-after.png"
    torch_device = resolve_device(device)
    rows = [
        load(path, torch_device).sample(BEFORE_AFTER_SEEDS, psi=DEFAULT_PSI)
        for path in (bundled_model_path(), model)
    ]
    save_image(make_grid(np.concatenate(rows), len(BEFORE_AFTER_SEEDS)), before_after)
    return {"dataset": dataset.output, "run": run_dir, "fine-tuned model": model,
            "before/after": before_after}  # fmt: skip


def run_demo(
    outdir: str | Path = "demo-out", kimg: float = FINE_TUNE_KIMG, device: str = "auto"
) -> DemoResult:
    """Show the bundled model, then fine-tune it on the built-in faces tagged DEMO_TAG."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    result = DemoResult(show_bundled(outdir, device))
    print("bundled model shown: " + ", ".join(str(p) for p in result.outputs.values()))
    result.outputs.update(fine_tune_on_tag(outdir, kimg, device))
    return result


__all__ = ["CREDIT", "DemoResult", "builtin_dataset", "run_demo"]
