"""`waifugan interpolate | mix | project | progress-video`: show a trained model off."""

from __future__ import annotations

import argparse
from typing import Any

from waifugan.cli import add_device_option, add_model_argument, formatter
from waifugan.networks.sampling import DEFAULT_PSI


def register(subparsers: Any) -> None:
    """Add the interpolate, mix, project and progress-video subcommands."""
    _register_interpolate(subparsers)
    _register_mix(subparsers)
    _register_project(subparsers)
    _register_progress(subparsers)


def _register_interpolate(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "interpolate",
        help="latent-walk video through seeds",
        description="A video of faces morphing through the seeds' latents (in W after "
        "truncation by default). OUT is .mp4 (H.264), .gif, or a folder for PNG frames. With "
        "--grid RxC, R*C independent walks share the video and the seeds are split evenly "
        "between them (walk i takes the i-th group).",
        formatter_class=formatter,
    )
    add_model_argument(p)
    p.add_argument("--seeds", required=True, help="keyframe seeds, e.g. 1,5,9 or 0-8")
    p.add_argument("--frames-per-seed", type=int, default=60, help="frames between keyframes")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second")
    p.add_argument("--psi", type=float, default=DEFAULT_PSI, help="truncation ψ")
    p.add_argument("--space", choices=["w", "z"], default="w", help="latent space to walk in")
    p.add_argument(
        "--kind",
        choices=["auto", "linear", "slerp", "cubic"],
        default="auto",
        help="interpolation; auto = linear in W, slerp in Z; cubic = Catmull-Rom",
    )
    p.add_argument(
        "--loop", action="store_true", help="walk back to the first seed (last frame = first frame)"
    )
    p.add_argument("--grid", default="1x1", help="ROWSxCOLS independent walks")
    p.add_argument("--batch", type=int, default=8, help="images per generator call")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, 0 (lossless) .. 51")
    add_device_option(p)
    p.add_argument("-o", "--output", default="walk.mp4", help="output .mp4, .gif or folder")
    p.set_defaults(func=run_interpolate)


def run_interpolate(args: argparse.Namespace) -> int:
    """Render the walk and report."""
    from waifugan.generate.images import parse_seeds
    from waifugan.generate.interpolate import InterpolateConfig, interpolate_video, parse_grid

    cfg = InterpolateConfig(
        seeds=tuple(parse_seeds(args.seeds)), frames_per_seed=args.frames_per_seed,
        fps=args.fps, psi=args.psi, space=args.space, kind=args.kind, loop=args.loop,
        grid=parse_grid(args.grid), batch_size=args.batch, device=args.device, crf=args.crf,
    )  # fmt: skip
    result = interpolate_video(args.model, args.output, cfg)
    print(
        f"wrote {result.path}: {result.num_frames} frames in {result.seconds:.1f} s "
        f"({result.frames_per_s:.1f} frames/s, {result.encode_seconds:.1f} s encoding)"
    )
    return 0


def _register_mix(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mix",
        help="style-mixing grid",
        description="The style-mixing grid: cell (r, c) is row r's face with the chosen layers' "
        "styles taken from column c's face; the top row and left column show the sources. "
        "--styles coarse = layers at 4-8 px (pose, face shape), middle = 16-32 px (features, "
        "hair), fine = 64 px and up (colours); or ws indices like 0-3.",
        formatter_class=formatter,
    )
    add_model_argument(p)
    p.add_argument("--rows", required=True, help="row seeds (keep their other layers)")
    p.add_argument("--cols", required=True, help="column seeds (give their styles)")
    p.add_argument("--styles", default="coarse", help="coarse | middle | fine | indices (0-3)")
    p.add_argument("--psi", type=float, default=DEFAULT_PSI, help="truncation ψ")
    p.add_argument(
        "--noise-mode", choices=["const", "random", "none"], default="const", help="per-pixel noise"
    )
    add_device_option(p)
    p.add_argument("-o", "--output", default="mix.png", help="output image")
    p.set_defaults(func=run_mix)


def run_mix(args: argparse.Namespace) -> int:
    """Write the grid and report."""
    from waifugan.generate.images import parse_seeds
    from waifugan.generate.mixing import MixConfig, style_mix

    cfg = MixConfig(
        row_seeds=tuple(parse_seeds(args.rows)), col_seeds=tuple(parse_seeds(args.cols)),
        styles=args.styles, psi=args.psi, noise_mode=args.noise_mode, device=args.device,
    )  # fmt: skip
    path, layers = style_mix(args.model, args.output, cfg)
    print(f"wrote {path} (styles from ws {', '.join(map(str, layers))})")
    return 0


def _register_project(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "project",
        help="find the latent of an image",
        description="Find the w (or W+) and noise maps that make the model draw TARGET. Writes "
        "projected_w.npz (ws + noise maps), proj.png, target.png and projection.json (PSNR) "
        "to OUTDIR. The distance is pixel MSE at three scales; --distance inception adds an "
        "Inception-v3 feature distance (uses the FID network asset; slower).",
        formatter_class=formatter,
    )
    add_model_argument(p)
    p.add_argument("target", help="image to project (cropped to a centred square, resized)")
    p.add_argument("--steps", type=int, default=500, help="optimization steps")
    p.add_argument("--seed", type=int, default=0, help="random seed of the optimization")
    p.add_argument("--w-plus", action="store_true", help="one w per layer (closer, less editable)")
    p.add_argument("--distance", choices=["pixel", "inception"], default="pixel", help="loss")
    p.add_argument("--save-video", action="store_true", help="also write proj.mp4 of the steps")
    add_device_option(p)
    p.add_argument("-o", "--outdir", default="projection", help="output folder")
    p.set_defaults(func=run_project)


def run_project(args: argparse.Namespace) -> int:
    """Project and report the reconstruction quality."""
    from waifugan.generate.projection import ProjectConfig, project_image

    cfg = ProjectConfig(
        steps=args.steps, seed=args.seed, w_plus=args.w_plus, distance=args.distance,
        save_video=args.save_video, device=args.device,
    )  # fmt: skip
    result = project_image(args.model, args.target, args.outdir, cfg)
    print(f"wrote {result.outdir}: PSNR {result.psnr_db:.2f} dB (MSE {result.mse:.1f})")
    return 0


def _register_progress(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "progress-video",
        help="video of a run's snapshots",
        description="A video of a training run's fakesNNNNNN.png snapshot grids in kimg order, "
        "each frame labelled with its kimg, all scaled to one size.",
        formatter_class=formatter,
    )
    p.add_argument("rundir", help="training run directory")
    p.add_argument("--fps", type=float, default=5.0, help="snapshots per second")
    p.add_argument("--size", type=int, default=None, help="frame width in px (default: largest)")
    p.add_argument("--no-init", action="store_true", help="leave out fakes_init.png")
    p.add_argument("--hold", type=float, default=1.0, help="seconds to hold the last snapshot")
    p.add_argument("-o", "--output", default="progress.mp4", help="output .mp4, .gif or folder")
    p.set_defaults(func=run_progress)


def run_progress(args: argparse.Namespace) -> int:
    """Write the progress video and report."""
    from waifugan.generate.progress import ProgressVideoConfig, progress_video

    cfg = ProgressVideoConfig(
        fps=args.fps, size=args.size, include_init=not args.no_init, hold_last_s=args.hold
    )
    result = progress_video(args.rundir, args.output, cfg)
    skipped = f", skipped {len(result.skipped)} unreadable" if result.skipped else ""
    print(f"wrote {result.path}: {len(result.snapshots)} snapshots{skipped}")
    return 0
