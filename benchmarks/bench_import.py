"""`waifugan import` of a 512 px StyleGAN1-size model, and how fast the imported model draws.

The file is a TensorFlow StyleGAN1 pickle with random weights in the real layout of the 2019
anime face model (512 px, fmap_base 8192, fmap_max 512, z/w 512, 8 mapping layers; G and Gs,
~26M parameters each), written by the test suite's format builder. Measured:
  import          detect + safe unpickle + convert Gs (import_model), seconds
  model file      write the .safetensors, then waifugan.load it, seconds
  generate        imported StyleGAN1 G.sample at ψ 0.7, images/s (batch 4, noise const)
  baseline        waifugan's StyleGAN2 Generator with the same resolution and channels
Usage: python benchmarks/bench_import.py [--quick]   (--quick: a 64 px narrow net, checks
the script, not the machine)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' format builder
from tests.interop.tf_builders import write_stylegan1  # noqa: E402

import waifugan  # noqa: E402
from common import median_seconds, table  # noqa: E402
from waifugan.interop import import_model  # noqa: E402
from waifugan.networks.generator import Generator, GeneratorConfig  # noqa: E402

QUICK = "--quick" in sys.argv
REPEATS = 1 if QUICK else 3
# The 2019 anime face model's shape (gwern, trained with NVlabs' StyleGAN1 defaults).
FULL = dict(resolution=512, fmap_base=8192, fmap_max=512, z_dim=512, w_dim=512, depth=8)
TINY = dict(resolution=64, fmap_base=256, fmap_max=32, z_dim=64, w_dim=64, depth=2)
BATCH = 4
SEEDS = list(range(BATCH))


def _images_per_s(G: torch.nn.Module) -> float:
    seconds = median_seconds(lambda: G.sample(SEEDS, psi=0.7), repeats=REPEATS, warmup=1)
    return BATCH / seconds


def main() -> int:
    torch.set_grad_enabled(False)
    shape = TINY if QUICK else FULL
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        pkl = tmp / "2019-03-08-stylegan-animefaces-network-02051-021980.pkl"
        write_stylegan1(pkl, tmp / "EXECUTED", **shape)
        size_mib = pkl.stat().st_size / 2**20
        import_s = median_seconds(lambda: import_model(pkl), repeats=REPEATS, warmup=0)
        G = import_model(pkl).G_ema
        model = tmp / "anime.safetensors"
        started = time.perf_counter()
        G.save_pretrained(model)
        loaded = waifugan.load(model)
        file_s = time.perf_counter() - started
        sg1 = _images_per_s(loaded)
        baseline_cfg = GeneratorConfig(
            img_resolution=G.cfg.img_resolution, z_dim=G.cfg.z_dim, w_dim=G.cfg.w_dim,
            map_depth=G.cfg.map_depth, channel_base=G.cfg.channel_base,
            channel_max=G.cfg.channel_max,
        )  # fmt: skip
        torch.manual_seed(0)
        sg2 = _images_per_s(Generator(baseline_cfg).eval())
    params = sum(p.numel() for p in G.parameters())
    rows = [[f"{shape['resolution']} px StyleGAN1, {params / 1e6:.1f}M params",
             f"{size_mib:.0f}", f"{import_s:.2f}", f"{file_s:.2f}", f"{sg1:.2f}",
             f"{sg2:.2f}", f"{sg1 / sg2:.2f}"]]  # fmt: skip
    headers = ["model", "pickle MiB (G + Gs)", "import s", "save + load s",
               "generate img/s (StyleGAN1)", "baseline img/s (StyleGAN2, same channels)",
               "ratio to baseline"]  # fmt: skip
    print(table(headers, rows))
    print(f"\nmedian of {REPEATS} run(s); torch threads: {torch.get_num_threads()}; "
          f"batch {BATCH}, ψ 0.7, noise const; CPU")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
