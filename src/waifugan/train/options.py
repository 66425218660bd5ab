"""Training options: one frozen dataclass, named presets, and how flags override them.

Resolution order, coded once in `resolve_options`: defaults ← preset (with `--init`: ← the
preset's fine-tuning values and the source's network shapes) ← options saved in the resumed
checkpoint ← flags the user gave explicitly. The result is saved as `options.json` in
the run directory.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import DiscriminatorConfig
from waifugan.networks.generator import MAPPING_LR_MULTIPLIER, GeneratorConfig
from waifugan.train.augment import AUGPIPES
from waifugan.train.diffaugment import parse_policy


@dataclass(frozen=True)
class TrainOptions:
    """Every option of a training run (saved with the run, printable with --dry-run)."""

    data: str  # dataset zip or folder
    outdir: str = "runs"  # parent of the numbered run directories
    preset: str = "cpu64"  # name in PRESETS the other defaults came from
    resolution: int = 64  # image side, always the dataset's
    kimg: float = 200  # total training length in thousands of real images shown to D
    tick_kimg: float = 1.0  # progress/log interval in kimg
    snap: int = 5  # write fakes grid + checkpoint every `snap` ticks
    batch: int = 16  # total batch over all devices
    gamma: float = 0.05  # R1 weight; NVlabs 'auto' heuristic is 0.0002 * res**2 / batch
    glr: float = 0.0025  # G learning rate
    dlr: float = 0.0025  # D learning rate
    z_dim: int = 512
    w_dim: int = 512
    map_depth: int = 8  # mapping network layers
    map_lr_mult: float = MAPPING_LR_MULTIPLIER  # mapping network's lr relative to G's
    cbase: int = 32768  # channel base: channels at resolution r = min(cbase / r, cmax)
    cmax: int = 512  # channel maximum
    d_cbase: int | None = None  # D's channel base (None: cbase)
    d_cmax: int | None = None  # D's channel maximum (None: cmax)
    mbstd_group: int = 4  # minibatch stddev group size
    num_fp16_res: int = 0  # highest N resolutions in FP16 on CUDA
    conv_clamp: float | None = None  # clamp conv outputs (used with FP16)
    ema_kimg: float = 5.0  # G_ema half-life in kimg; NVlabs: batch * 10 / 32
    ema_rampup: float | None = 0.05  # ramp the half-life up to ema_rampup * cur_nimg (None: off)
    r1_interval: int = 16  # lazy R1 regularization: every 16 D steps (StyleGAN2 §3.1)
    pl_interval: int = 4  # lazy path-length regularization: every 4 G steps
    pl_weight: float = 2.0  # path-length penalty weight (StyleGAN2 config F)
    pl_decay: float = 0.01  # EMA decay of the path-length target
    pl_batch_shrink: int = 2  # path-length minibatch = batch / 2, saving compute
    style_mixing: float = 0.9  # probability of mixing two latents in a G step
    mirror: bool = False  # x-flip augmentation: doubles the dataset
    seed: int = 0  # random seed for weights, sampling order and noise
    workers: int = 2  # DataLoader worker processes
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    metrics: tuple[str, ...] = field(default_factory=tuple)  # e.g. ("fid2k", "kid2k")
    metrics_every: int = 1  # evaluate metrics every N snapshots
    init: str | None = None  # transfer learning: start from these weights, counters at zero
    # Augmentation of everything D sees (StyleGAN2-ADA, Karras et al. 2020; train/augment.py).
    aug: str = "ada"  # ada: p adapts to D's overfitting | fixed: p = --p | none
    p: float = 0.0  # augmentation probability: the fixed value, or where ADA starts
    target: float = 0.6  # ADA target for r_t = E[sign(D(real))] (the paper's choice)
    ada_kimg: float = 500  # ADA speed: p can move from 0 to 1 in this many kimg (paper: 500)
    augpipe: str = "bgc"  # transforms: b(lit), g(eometric), c(olour) and their combinations
    freezed: int = 0  # Freeze-D: this many D blocks from the input keep their weights
    # DiffAugment (Zhao et al. 2020; train/diffaugment.py) on everything D sees, always on:
    # comma-separated policies color, translation, cutout; "" = off.
    diffaug: str = ""
    noise: bool = True  # per-pixel noise inputs in G (off for flat-shaded art on CPU presets)
    keep: int = 0  # checkpoints kept: the newest N (0 = all); the one a resume needs stays
    keep_every_kimg: float = 0  # with keep: also the first checkpoint of every M kimg (0 = none)
    # Processes and precision (train/distributed.py, networks/precision.py).
    batch_gpu: int | None = None  # images per process per pass (less than its share: accumulate)
    precision: str = "fp16"  # the num_fp16_res blocks on CUDA: fp16 | bf16 | fp32 (all FP32)
    channels_last: bool = False  # NHWC activations in the mixed-precision blocks (CUDA)
    dist_timeout_s: float = 1800  # a process silent this long stops the run (several processes)

    def G_config(self) -> GeneratorConfig:
        """Generator constructor arguments."""
        return GeneratorConfig(
            img_resolution=self.resolution,
            z_dim=self.z_dim,
            w_dim=self.w_dim,
            map_depth=self.map_depth,
            channel_base=self.cbase,
            channel_max=self.cmax,
            num_fp16_res=0 if self.precision == "fp32" else self.num_fp16_res,
            conv_clamp=None if self.precision == "fp32" else self.conv_clamp,  # as NVlabs' --fp32
            use_noise=self.noise,
        )

    def D_config(self) -> DiscriminatorConfig:
        """Discriminator constructor arguments."""
        return DiscriminatorConfig(
            img_resolution=self.resolution,
            channel_base=self.cbase if self.d_cbase is None else self.d_cbase,
            channel_max=self.cmax if self.d_cmax is None else self.d_cmax,
            mbstd_group_size=self.mbstd_group,
            num_fp16_res=0 if self.precision == "fp32" else self.num_fp16_res,
            conv_clamp=None if self.precision == "fp32" else self.conv_clamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON and checkpoint safe), with the network configs spelled out."""
        out = dataclasses.asdict(self)
        out["metrics"] = list(self.metrics)
        out["G"] = self.G_config().to_dict()
        out["D"] = self.D_config().to_dict()
        return out

    def to_json(self) -> str:
        """Pretty JSON for options.json and --dry-run."""
        return json.dumps(self.to_dict(), indent=2)


@dataclass(frozen=True)
class Preset:
    """Named defaults for a kind of run; `resolution` is the image side they are tuned for
    (checked against the dataset's, which is what the networks are built for). `fine_tune`
    replaces some of `values` when a run starts from other weights (`--init`): the settings
    fine-tuning was measured with, where they differ from those tuned for training from scratch."""

    resolution: int
    values: dict[str, Any]
    fine_tune: dict[str, Any] = field(default_factory=dict)


# Published StyleGAN2-ADA settings (Karras et al. 2020, "paper256/512/1024" configs) for GPUs,
# with FID-50k at every snapshot as NVlabs does; the CPU presets are ours (networks shrunk
# until a 2-core CPU trains them at a useful rate) and evaluate no metrics by default.
PRESETS: dict[str, Preset] = {
    # CPU presets (issue 13): at 64 px the old cbase 4096 / cmax 128 network ran at 15.7 img/s
    # and collapsed; this one runs ~3x faster. D won from the first kimg (loss/G 4.6-4.9), so
    # everything D sees gets DiffAugment; G used its 64 px noise to fake outlines and covered
    # the faces in grain, so noise is off; path length and style mixing cost ~20 % and help
    # little at this size (as in NVlabs' 32 px config). Batch 8: on this CPU img/s barely
    # depends on the batch, so half the batch is twice the updates per minute; in equal wall
    # time it reached FID-2k 280 where batch 16 scored 337. Figures: benchmarks/RESULTS.md.
    "cpu64": Preset(64, dict(
        kimg=200, tick_kimg=1, snap=5, batch=8, z_dim=128, w_dim=128, map_depth=2,
        cbase=2048, cmax=64, mbstd_group=4,
        # Twice StyleGAN's learning rate, R1 γ 0.8 and DiffAugment without cutout, together:
        # FID-2k 168 / 184 at 30 kimg on seeds 1 / 2 where 0.0025, γ 0.2 and cutout scored
        # 229 / 198 (185 / 155 at 50 against 190 / 173; seed 0 level at 20 minutes, 170, and
        # 100 against 168 at 110 kimg), and faces with more features in every grid. Each
        # change alone had moved FID-2k within the seeds' spread (benchmarks/RESULTS.md).
        glr=0.005, dlr=0.005, gamma=0.8,
        # D at half G's width (measured with lr 0.0025, γ 0.2 and cutout): 1.65x the img/s
        # and FID-2k 165 instead of ~214 after 20 minutes from scratch (ahead per minute on
        # seeds 1 and 2 too, by 6 and 17); at a quarter, 202. It plateaued near 168 by 60
        # minutes, where wider Ds still improved (three quarters, 1536/48: 142 and 182 on two
        # seeds; full width 161): for runs of hours a wider D (benchmarks/RESULTS.md). G's own
        # width: cbase 1024 (1.32x the img/s) won on one seed and lost on two, with one-eyed
        # heads; cmax 128 lost at 30 kimg.
        d_cbase=1024, d_cmax=32,
        ema_kimg=2.0, ema_rampup=0.05, workers=1, pl_weight=0.0, style_mixing=0.0,
        noise=False, diffaug="color,translation",
        # Mapping lr multiplier stays StyleGAN's 0.01: 1 moved FID-2k at 30 kimg by -26 and +46
        # on two seeds; a wider minibatch stddev or mode seeking did not end the early collapse
        # (the data's mean face, learned first). γ 0.05 was worse.
        # From scratch on thousands of faces DiffAugment is enough; ADA on top (ada_kimg 20)
        # read the early, easy win of D as overfitting, p reached 0.37 by 13 kimg and G drew
        # the same diagonal stripes in every face (benchmarks/RESULTS.md). Fine-tuning (--init)
        # turns ADA on; ada_kimg 20: p can cross 0 → 1 within a CPU run (GPU presets: 500).
        aug="none", ada_kimg=20,
    ), fine_tune=dict(
        # Fine-tuning the bundled model (make demo's before/after grid) was measured with
        # StyleGAN's learning rate and γ 0.2, this preset's values before 2026-12-07.
        glr=0.0025, dlr=0.0025, gamma=0.2,
    )),
    "cpu32": Preset(32, dict(
        kimg=50, tick_kimg=1, snap=5, batch=16, gamma=0.0128, glr=0.0025,
        dlr=0.0025, z_dim=64, w_dim=64, map_depth=2, cbase=2048, cmax=64, mbstd_group=4,
        ema_kimg=2.0, ema_rampup=0.05, workers=1, aug="none", ada_kimg=20,
        noise=False, diffaug="color,translation,cutout",
        # As NVlabs' 32 px CIFAR config: no path-length regularization or style mixing at
        # this size; they cost ~20 % of the step and help little.
        pl_weight=0.0, style_mixing=0.0,
    )),
    "gpu256": Preset(256, dict(
        kimg=25000, tick_kimg=4, snap=50, batch=64, gamma=1.0, glr=0.0025,
        dlr=0.0025, z_dim=512, w_dim=512, map_depth=8, cbase=16384, cmax=512, mbstd_group=8,
        ema_kimg=20.0, ema_rampup=None, num_fp16_res=4, conv_clamp=256, workers=3,
        metrics=("fid50k",),
    )),
    "gpu512": Preset(512, dict(
        kimg=25000, tick_kimg=4, snap=50, batch=64, gamma=0.5, glr=0.0025,
        dlr=0.0025, z_dim=512, w_dim=512, map_depth=8, cbase=32768, cmax=512, mbstd_group=8,
        ema_kimg=20.0, ema_rampup=None, num_fp16_res=4, conv_clamp=256, workers=3,
        metrics=("fid50k",),
    )),
    "gpu1024": Preset(1024, dict(
        kimg=25000, tick_kimg=4, snap=50, batch=32, gamma=2.0, glr=0.002,
        dlr=0.002, z_dim=512, w_dim=512, map_depth=8, cbase=32768, cmax=512, mbstd_group=4,
        ema_kimg=10.0, ema_rampup=None, num_fp16_res=4, conv_clamp=256, workers=3,
        metrics=("fid50k",),
    )),
}  # fmt: skip
DEFAULT_PRESET = "cpu64"

OPTION_NAMES = {f.name for f in dataclasses.fields(TrainOptions)}
# Options that define the networks: changing one makes an existing checkpoint unloadable.
NETWORK_OPTIONS = (
    "resolution",
    "z_dim",
    "w_dim",
    "map_depth",
    "cbase",
    "cmax",
    "d_cbase",
    "d_cmax",
    "noise",
)


def resolve_options(
    preset: str,
    overrides: Mapping[str, Any],
    dataset_resolution: int,
    resumed: Mapping[str, Any] | None = None,
) -> TrainOptions:
    """The one merge order: defaults ← preset (← its fine-tuning values and the source's
    shapes, with init) ← resumed options ← overrides (None = not given).

    An override that names no option is refused (a misspelled key never vanishes silently);
    `resolution` always comes from the dataset.
    """
    if preset not in PRESETS:
        raise WaifuganError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    unknown = sorted(set(overrides) - OPTION_NAMES)
    if unknown:
        raise WaifuganError(f"unknown training option(s): {', '.join(unknown)}")
    values: dict[str, Any] = dict(PRESETS[preset].values)
    if overrides.get("init") and resumed is None:  # fine-tuning: the source's network shape
        from waifugan.train.transfer import fine_tune_defaults

        values.update(PRESETS[preset].fine_tune)
        values.update(fine_tune_defaults(overrides["init"], values.get("ada_kimg", 500)))
    if resumed is not None:
        values.update(d_width_of(resumed))
        values.update({k: v for k, v in resumed.items() if k in OPTION_NAMES})
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("data"):
        raise WaifuganError("--data is required (a dataset zip or folder)")
    values.update(preset=preset, resolution=dataset_resolution)
    problem = type_problem(values)
    if problem is not None:
        raise WaifuganError(f"option {problem}")
    values["metrics"] = metric_names(values.get("metrics"))
    opts = TrainOptions(**values)
    validate(opts)
    return opts


def d_width_of(options: Mapping[str, Any]) -> dict[str, Any]:
    """D's channel base and maximum as a run's options record them; runs from before
    --d-cbase / --d-cmax existed record them only in D's config."""
    config = options.get("D") or {}
    return {
        "d_cbase": options.get("d_cbase", config.get("channel_base")),
        "d_cmax": options.get("d_cmax", config.get("channel_max")),
    }


def type_problem(values: Mapping[str, Any]) -> str | None:
    """The first known option whose value has the wrong type, described ("batch: 'eight' is
    not int"), or None; values from a checkpoint or the Python API are checked before use."""
    for name, value in values.items():
        spec = _FIELD_TYPES.get(name)
        if spec is not None and not any(_is(value, kind.strip()) for kind in spec.split("|")):
            return f"{name}: {value!r} is not {spec}"
    return None


def _is(value: Any, kind: str) -> bool:
    if kind in ("int", "float") and isinstance(value, bool):
        return False
    if kind.startswith("tuple"):  # metric names: "fid2k,kid2k" or a list of names
        return isinstance(value, str) or (
            isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)
        )
    kinds = {"None": type(None), "bool": bool, "int": int, "float": int | float, "str": str}
    return kind in kinds and isinstance(value, kinds[kind])


_FIELD_TYPES = {f.name: str(f.type) for f in dataclasses.fields(TrainOptions)}


def options_for_data(
    overrides: Mapping[str, Any], resumed: Mapping[str, Any] | None = None
) -> TrainOptions:
    """`resolve_options` for the dataset the options name (flag, else the resumed run's),
    with the preset from the flag, the resumed run or DEFAULT_PRESET."""
    from waifugan.data.dataset import ImageDataset

    previous = resumed or {}
    data = overrides.get("data") or previous.get("data")
    if not data:
        raise WaifuganError("--data is required (a dataset zip or folder)")
    preset = overrides.get("preset") or previous.get("preset") or DEFAULT_PRESET
    resolution = ImageDataset(data).resolution
    opts = resolve_options(preset, {**overrides, "data": str(data)}, resolution, resumed)
    tuned = PRESETS[preset].resolution
    if tuned != resolution:
        fits = [name for name, p in PRESETS.items() if p.resolution == resolution]
        hint = f"--preset {fits[0]} fits it" if fits else "no preset is tuned for it"
        print(
            f"warning: preset {preset} is tuned for {tuned} px images, the dataset has "
            f"{resolution} px ({hint}); the networks are built for {resolution} px",
            file=sys.stderr,
        )
    return opts


def metric_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Metric names from a flag ("fid2k,kid2k", "none") or a list; checked by the evaluator."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [] if value.strip().lower() in ("", "none") else value.split(",")
    return tuple(name.strip() for name in value if name.strip())


def validate(opts: TrainOptions) -> None:
    """Refuse impossible combinations with a message naming the option."""
    checks = [
        (opts.batch >= 1, f"--batch must be ≥ 1, got {opts.batch}"),
        (opts.kimg > 0, f"--kimg must be > 0, got {opts.kimg}"),
        (opts.tick_kimg > 0, f"--tick must be > 0, got {opts.tick_kimg}"),
        (opts.snap >= 1, f"--snap must be ≥ 1, got {opts.snap}"),
        (opts.gamma >= 0, f"--gamma must be ≥ 0, got {opts.gamma}"),
        (opts.glr > 0 and opts.dlr > 0, "--glr and --dlr must be > 0"),
        (opts.map_depth >= 1, f"--map-depth must be ≥ 1, got {opts.map_depth}"),
        (opts.map_lr_mult > 0, f"--map-lr-mult must be > 0, got {opts.map_lr_mult}"),
        (opts.cbase >= 64 and opts.cmax >= 1, "--cbase must be ≥ 64 and --cmax ≥ 1"),
        (
            (opts.d_cbase is None or opts.d_cbase >= 64)
            and (opts.d_cmax is None or opts.d_cmax >= 1),
            "--d-cbase must be ≥ 64 and --d-cmax ≥ 1",
        ),
        (opts.resolution >= 8, f"dataset resolution {opts.resolution} is below the minimum 8"),
        (opts.workers >= 0, f"--workers must be ≥ 0, got {opts.workers}"),
        (opts.keep >= 0, f"--keep must be ≥ 0 (0 keeps every checkpoint), got {opts.keep}"),
        (opts.keep_every_kimg >= 0, f"--keep-every must be ≥ 0, got {opts.keep_every_kimg}"),
        (0 <= opts.style_mixing <= 1, "style mixing probability must be in [0, 1]"),
        (opts.batch % opts.pl_batch_shrink == 0 or opts.batch < opts.pl_batch_shrink, "batch"),
        (
            opts.aug in ("ada", "fixed", "none"),
            f"--aug must be ada, fixed or none, not {opts.aug!r}",
        ),
        (0 <= opts.p <= 1, f"--p must be in [0, 1], got {opts.p}"),
        (0 < opts.target < 1, f"--target must be in (0, 1), got {opts.target}"),
        (opts.ada_kimg > 0, f"--ada-kimg must be > 0, got {opts.ada_kimg}"),
        (opts.augpipe in AUGPIPES, f"--augpipe must be one of {', '.join(AUGPIPES)}"),
        (
            0 <= opts.freezed <= max(opts.resolution.bit_length() - 3, 0),
            f"--freezed {opts.freezed}: D has {opts.resolution.bit_length() - 3} blocks before its "
            "4x4 epilogue at this resolution",
        ),
        (
            opts.batch_gpu is None or opts.batch_gpu >= 1,
            f"--batch-gpu must be ≥ 1, got {opts.batch_gpu}",
        ),
        (
            opts.precision in ("fp16", "bf16", "fp32"),
            f"--precision must be fp16, bf16 or fp32, not {opts.precision!r}",
        ),
        (opts.dist_timeout_s > 0, f"--dist-timeout must be > 0, got {opts.dist_timeout_s}"),
    ]
    for ok, message in checks:
        if not ok:
            raise WaifuganError(message)
    try:
        parse_policy(opts.diffaug)
    except ValueError as error:
        raise WaifuganError(f"--diffaug: {error}") from None
