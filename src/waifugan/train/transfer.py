"""Transfer learning: start a run from another run's checkpoint or from a model file.

`--init` loads every parameter whose name and shape match, widens the source's weights into
layers given more channels (`--cbase` / `--cmax` above the source's; train/widen.py, the wider
network starts out computing what the source did), keeps the fresh initialisation of the rest,
and prints the table of what matched. A source of a lower resolution than the dataset grows:
its blocks load, the new blocks above start with their toRGB zeroed (G first draws the
source's images upsampled). A model file (G only, e.g. an imported one)
leaves D fresh unless MODEL.D.safetensors lies beside it. Freeze-D (Mo et al. 2020, "Freeze
the Discriminator: a Simple Baseline for Fine-Tuning GANs") keeps the first `freezed` D
blocks, counted from the input, fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import Generator
from waifugan.networks.model_file import discriminator_path, load_discriminator, load_model
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.widen import can_widen, widen_into

# Defaults a fine-tuning run gets unless a flag says otherwise (NVlabs' train.py does the same
# for a resumed pickle): G starts trained, so no EMA ramp-up, and ADA reacts within 100 kimg.
# ADA alone, without the CPU presets' DiffAugment: on 200 faces from the bundled model, 8
# minutes each, FID-1k against held-out faces 148.8 with ADA, 157.0 with ADA + DiffAugment,
# 177.7 with neither (benchmarks/small_data.py, RESULTS.md).
FINE_TUNE_ADA_KIMG = 100.0
# Options that shape the networks, taken from the --init source so its weights fit.
_NETWORK_KEYS = {"z_dim": "z_dim", "w_dim": "w_dim", "map_depth": "map_depth",
                 "channel_base": "cbase", "channel_max": "cmax", "use_noise": "noise"}  # fmt: skip


@dataclass
class Source:
    """What `--init` names, loaded: its kind, resolution, and the state dicts it holds."""

    path: str
    kind: str  # "checkpoint" or "model"
    resolution: int
    states: dict[str, Mapping[str, torch.Tensor]]  # "G", "G_ema" and, for checkpoints, "D"
    G_config: dict[str, Any]
    kimg: float | None = None  # training progress of a checkpoint
    D_config: dict[str, Any] | None = None  # when the source has a D


@dataclass
class Transfer:
    """Per network: names of matched, widened (more channels than in the source),
    shape-mismatched, new (not in the source) and unused (in the source only) parameters;
    `fresh` when the source holds no such network."""

    matched: list[str] = field(default_factory=list)
    widened: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    fresh: bool = False


def load_source(path: str, device: torch.device | str = "cpu") -> Source:
    """Read a checkpoint (.pt) or a model file (.safetensors) for transfer learning."""
    if str(path).endswith(".safetensors"):
        G = load_model(path)
        if not isinstance(G, Generator):  # e.g. an imported StyleGAN1 model
            raise WaifuganError(
                f"--init {path}: a {G.architecture} model; waifugan trains StyleGAN2 only, so "
                "this model can generate, mix, interpolate, project, serve and be scored, but "
                "not be fine-tuned (start from a StyleGAN2 model instead)"
            )
        state = G.state_dict()
        config = G.cfg.to_dict()  # type: ignore[operator, union-attr]
        states: dict[str, Mapping[str, torch.Tensor]] = {"G": state, "G_ema": state}
        d_path = discriminator_path(path)
        D_config = None
        if d_path.is_file():  # a model that keeps its D beside it (the bundled one does)
            D = load_discriminator(d_path)
            states["D"], D_config = D.state_dict(), D.cfg.to_dict()
        resolution = int(config["img_resolution"])
        return Source(str(path), "model", resolution, states, config, None, D_config)
    checkpoint = load_checkpoint(path, device)
    config = dict(checkpoint["options"]["G"])
    states = {name: checkpoint[name] for name in ("G", "G_ema", "D")}
    kimg = checkpoint["cur_nimg"] / 1000
    D_config = dict(checkpoint["options"]["D"])
    resolution = int(config["img_resolution"])
    return Source(str(path), "checkpoint", resolution, states, config, kimg, D_config)


def fine_tune_defaults(path: str, preset_ada_kimg: float) -> dict[str, Any]:
    """Options a run started from `path` defaults to: the source's network shapes (so every
    weight fits), no EMA ramp-up, and ADA alone on D's inputs (small data is what fine-tuning
    is for), at least as quick as FINE_TUNE_ADA_KIMG."""
    source = load_source(path)
    config = source.G_config
    values: dict[str, Any] = {
        opt: config[key] for key, opt in _NETWORK_KEYS.items() if key in config
    }
    # D as wide as G (so that --cbase / --cmax widen both), unless the source's D is narrower
    # or wider than its G: then that width, so that D loads whole. Not the preset's D width:
    # that is relative to the preset's G, which the source's replaces.
    values.update(d_cbase=None, d_cmax=None)
    D_config = source.D_config
    if D_config is not None and (D_config["channel_base"], D_config["channel_max"]) != (
        config.get("channel_base"),
        config.get("channel_max"),
    ):
        values.update(d_cbase=D_config["channel_base"], d_cmax=D_config["channel_max"])
    values.update(aug="ada", diffaug="none", ema_rampup=None,
                  ada_kimg=min(preset_ada_kimg, FINE_TUNE_ADA_KIMG))  # fmt: skip
    return values


def transfer_weights(module: torch.nn.Module, state: Mapping[str, torch.Tensor]) -> Transfer:
    """Copy every entry of `state` whose name and shape match into `module`, and widen those
    that `module` has with more channels."""
    target = module.state_dict()
    result = Transfer(unused=[name for name in state if name not in target])
    for name, tensor in target.items():
        if name not in state:
            result.new.append(name)
        elif tuple(state[name].shape) == tuple(tensor.shape):
            result.matched.append(name)
        elif can_widen(tensor, state[name]):
            result.widened.append(name)
        else:
            result.mismatched.append(name)
    network, mbstd = "G", 1
    if isinstance(module, Discriminator):
        network, mbstd = "D", module.cfg.mbstd_num_channels
    with torch.no_grad():
        for name in result.matched:
            target[name].copy_(state[name])  # state_dict tensors share the modules' storage
        for name in result.widened:
            widen_into(target[name], state[name], network, name, mbstd)
    return result


def init_weights(
    modules: Mapping[str, torch.nn.Module], path: str, resolution: int, device: torch.device
) -> tuple[dict[str, Transfer], Source]:
    """Load G, G_ema and D (what the source has) from `path`; grows a source of a lower
    resolution, refuses a higher one."""
    source = load_source(path, device)
    if source.resolution > resolution:
        raise WaifuganError(
            f"--init {path}: the {source.kind} draws {source.resolution} px images but the "
            f"dataset has {resolution} px; fine-tuning needs the same resolution or a higher "
            f"one (prepare the dataset with --resolution {source.resolution})"
        )
    report: dict[str, Transfer] = {}
    for name, module in modules.items():
        if name in source.states:
            report[name] = transfer_weights(module, source.states[name])
        else:
            report[name] = Transfer(new=list(module.state_dict()), fresh=True)
    if not (report["G"].matched or report["G"].widened):
        raise WaifuganError(f"--init {path}: no generator parameter matches this network")
    if source.resolution < resolution:
        for name in ("G", "G_ema"):
            G = modules[name]
            assert isinstance(G, Generator)
            zero_new_torgb(G, source.resolution)
    return report, source


def zero_new_torgb(G: Generator, source_resolution: int) -> None:
    """Zero the toRGB layers above `source_resolution`, so a grown generator starts out
    drawing the source's image, upsampled; the new blocks then learn the detail on top."""
    with torch.no_grad():
        for res in G.synthesis.resolutions:
            if res > source_resolution:
                # weight and bias only: with the affine zeroed too, no gradient would reach them
                torgb = getattr(G.synthesis, f"b{res}").torgb
                torgb.weight.zero_()
                torgb.bias.zero_()


def transfer_table(report: Mapping[str, Transfer], source: Source) -> str:
    """The matched / shape-mismatched / new table for log.txt, with the names that differ."""
    progress = f", {source.kimg:g} kimg" if source.kimg is not None else ""
    lines = [
        f"transfer learning from {source.path} ({source.kind}{progress}):",
        f"  {'network':<8}{'matched':>9}{'widened':>9}{'shape-mismatched':>18}{'new':>6}"
        f"{'unused':>8}",
    ]
    for name, t in report.items():
        note = "  (fresh: the source has no D)" if t.fresh else ""
        counts = (f"{len(t.matched):>9}{len(t.widened):>9}{len(t.mismatched):>18}"
                  f"{len(t.new):>6}{len(t.unused):>8}")  # fmt: skip
        lines.append(f"  {name:<8}{counts}{note}")
    for name, t in report.items():
        for label, names in (("widened", t.widened), ("shape-mismatched", t.mismatched),
                             ("new", t.new)):  # fmt: skip
            if names and not t.fresh:
                shown = ", ".join(names[:8]) + (f", ... ({len(names)})" if len(names) > 8 else "")
                lines.append(f"  {name} {label}: {shown}")
    return "\n".join(lines)


def started_from(report: Mapping[str, Transfer], source: Source) -> dict[str, Any]:
    """What options.json records about the --init source."""
    return {
        "path": str(Path(source.path).resolve()),
        "kind": source.kind,
        "kimg": source.kimg,
        "resolution": source.resolution,
        "parameters": {
            name: {"matched": len(t.matched), "widened": t.widened,
                   "shape_mismatched": t.mismatched, "new": t.new, "unused": t.unused,
                   "fresh": t.fresh}
            for name, t in report.items()
        },
    }  # fmt: skip


def frozen_d_blocks(D: Discriminator, freezed: int) -> list[str]:
    """Names of the first `freezed` D blocks from the input (b{res}, highest res first)."""
    blocks = [f"b{res}" for res in D.resolutions]
    if not 0 <= freezed <= len(blocks):
        raise WaifuganError(
            f"--freezed {freezed}: D has {len(blocks)} blocks before its 4x4 epilogue "
            f"({', '.join(blocks)}); choose 0 to {len(blocks)}"
        )
    return blocks[:freezed]


def set_d_trainable(D: Discriminator, frozen: list[str], trainable: bool) -> None:
    """requires_grad for D, except the frozen blocks, which never get gradients."""
    D.requires_grad_(trainable)
    for name in frozen:
        getattr(D, name).requires_grad_(False)
