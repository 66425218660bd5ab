"""Latent-walk video throughput on CPU: frames/s at 64 px (cpu64 net) and 256 px (gpu256 net).

For each size, three measurements of the same walk (median of several runs):
  generate only   frames rendered to uint8, nothing written (the baseline)
  encode only     the same frames, already in memory, piped to H.264 (libx264, crf 18)
  generate+encode `render_walk` to an MP4, the command's real path
and the share of the real path's time spent handing frames to the encoder.
Usage: python benchmarks/bench_video.py [--quick]
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table  # noqa: E402
from waifugan.generate.interpolate import InterpolateConfig, render_walk, walk_frames  # noqa: E402
from waifugan.generate.video import write_video  # noqa: E402
from waifugan.networks.generator import Generator, GeneratorConfig  # noqa: E402
from waifugan.train.options import resolve_options  # noqa: E402

QUICK = "--quick" in sys.argv
REPEATS = 1 if QUICK else 3
SIZES = ((64, "cpu64", 48), (256, "gpu256", 6))  # (px, preset, frames per run)


def _generator(preset: str, res: int) -> Generator:
    torch.manual_seed(0)
    if QUICK:  # a narrow net: checks the script, not the machine
        cfg = GeneratorConfig(img_resolution=res, z_dim=64, w_dim=64, map_depth=2, channel_max=32)
    else:
        cfg = resolve_options(preset, {"data": "-"}, res).G_config()
    return Generator(cfg).eval().requires_grad_(False)


def _measure(G: Generator, cfg: InterpolateConfig, tmp: Path) -> dict[str, float]:
    started = time.perf_counter()
    frames = np.concatenate(list(walk_frames(G, cfg)))
    gen_s = time.perf_counter() - started
    started = time.perf_counter()
    write_video([frames], tmp / "encode.mp4", cfg.fps)
    enc_s = time.perf_counter() - started
    result = render_walk(G, tmp / "walk.mp4", cfg)
    return {
        "gen": len(frames) / gen_s,
        "enc": len(frames) / enc_s,
        "total": result.frames_per_s,
        "share": result.encode_seconds / result.seconds,
    }


def main() -> int:
    torch.set_grad_enabled(False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        for res, preset, frames in SIZES:
            G = _generator(preset, res)
            frames = 8 if QUICK else frames
            cfg = InterpolateConfig(seeds=(1, 2), frames_per_seed=frames - 1, device="cpu")
            _measure(G, InterpolateConfig(seeds=(1, 2), frames_per_seed=1), tmp)  # warm-up
            runs = [_measure(G, cfg, tmp) for _ in range(REPEATS)]
            med = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            rows.append([f"{res} px ({preset})", frames, f"{med['gen']:.1f}", f"{med['enc']:.0f}",
                         f"{med['total']:.1f}", f"{med['total'] / med['gen']:.2f}",
                         f"{100 * med['share']:.1f}%"])  # fmt: skip
    headers = ["walk", "frames", "generate only fr/s (baseline)", "encode only fr/s",
               "generate+encode fr/s", "ratio to baseline", "encoding share"]  # fmt: skip
    print(table(headers, rows))
    print(f"\nmedian of {REPEATS} run(s); torch threads: {torch.get_num_threads()}; "
          f"batch 8 frames; H.264 crf 18 preset medium via imageio-ffmpeg")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
