"""Writing what was imported: a waifugan model file, or a full training checkpoint."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from waifugan.errors import WaifuganError
from waifugan.interop.common import ImportedModel
from waifugan.networks.generator import Generator
from waifugan.networks.model_file import save_discriminator
from waifugan.train.checkpoint import save_checkpoint
from waifugan.train.options import DEFAULT_PRESET, PRESETS, TrainOptions
from waifugan.train.setup import build_networks, network_state

_NVLABS_KIMG = re.compile(r"network-snapshot-(\d+)\.pkl$")


def _provenance(model: ImportedModel) -> dict[str, Any]:
    return {
        "source": str(model.source),
        "source_format": model.format,
        "source_psi": model.psi,
        "source_truncation_cutoff": model.truncation_cutoff,
    }


def write_model(model: ImportedModel, path: str | os.PathLike[str], what: str = "G_ema") -> Path:
    """G_ema (or G) as a waifugan .safetensors model; D as weights + config (what="D")."""
    if what == "D":
        if model.D is None:
            raise WaifuganError(f"{model.source}: the file has no discriminator to write")
        return _write_discriminator(model, Path(path))
    G = model.G_ema if what == "G_ema" else model.G
    if G is None:
        raise WaifuganError(f"{model.source}: the file has no training generator G to write")
    return G.save_pretrained(path, extra=_provenance(model))


def _write_discriminator(model: ImportedModel, path: Path) -> Path:
    assert model.D is not None
    return save_discriminator(model.D, path, extra=_provenance(model))


def checkpoint_options(model: ImportedModel) -> TrainOptions:
    """Training options whose networks are exactly the imported G and D (no dataset yet)."""
    G, D = model.G_ema, model.D
    if not isinstance(G, Generator) or D is None or model.G is None:
        raise WaifuganError(
            f"{model.source}: --checkpoint needs a StyleGAN2 G, G_ema and D; this "
            f"{model.format} file gives {model.architecture} "
            f"{'G_ema only' if model.G is None else 'G and G_ema'}"
            f"{'' if D is not None else ', no D'}"
        )
    res = G.img_resolution
    preset = next((n for n, p in PRESETS.items() if p.resolution == res), DEFAULT_PRESET)
    values: dict[str, Any] = dict(PRESETS[preset].values)
    values.update(
        data="",  # `train --resume` asks for --data; `train --init` takes the dataset's
        preset=preset,
        resolution=res,
        z_dim=G.cfg.z_dim,
        w_dim=G.cfg.w_dim,
        map_depth=G.cfg.map_depth,
        cbase=G.cfg.channel_base,
        cmax=G.cfg.channel_max,
        d_cbase=D.cfg.channel_base,
        d_cmax=D.cfg.channel_max,
        num_fp16_res=G.cfg.num_fp16_res,
        conv_clamp=G.cfg.conv_clamp,
        noise=G.cfg.use_noise,
        mbstd_group=D.cfg.mbstd_group_size,
    )
    opts = TrainOptions(**values)
    if opts.D_config() != D.cfg:
        raise WaifuganError(
            f"{model.source}: D's configuration {D.cfg} cannot be expressed by training options"
        )
    return opts


def write_checkpoint(model: ImportedModel, path: str | os.PathLike[str]) -> Path:
    """A complete waifugan checkpoint (G, G_ema, D, fresh Adam states) that `train --init`
    and `train --resume` accept. Counters start at the source's kimg when its file name
    tells it (network-snapshot-NNNNNN.pkl), else 0; ADA's p carries over."""
    opts = checkpoint_options(model)
    nets = build_networks(opts, torch.device("cpu"))
    for name, source in (("G", model.G), ("G_ema", model.G_ema), ("D", model.D)):
        assert source is not None
        getattr(nets, name).load_state_dict(source.state_dict())
    match = _NVLABS_KIMG.search(str(model.source))
    cur_nimg = int(match[1]) * 1000 if match else 0
    state = {
        **network_state(nets),
        "cur_nimg": cur_nimg,
        "cur_tick": 0,
        "batch_idx": 0,
        "tick_start_nimg": cur_nimg,
        "pl_mean": torch.zeros([]),
        "augment": {"p": float(model.augment_p or 0.0)},
        "rng": {"torch": torch.get_rng_state()},
        "options": opts.to_dict(),
        "imported_from": _provenance(model),
    }
    return save_checkpoint(state, path)
