"""The StyleGAN2 training loop: one class whose methods are the phases of a step.

Per step (batch_idx counts steps): Gmain, Greg (path length, every pl_interval steps),
Dmain, Dreg (R1, every r1_interval steps), then the G_ema update. Every `tick_kimg` a tick
ends (stats, log); every `snap` ticks a snapshot (fakes grid, checkpoint, metrics).
"""

from __future__ import annotations

import copy
import math
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from waifugan.data.dataset import ImageDataset
from waifugan.data.sampler import InfiniteSampler
from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import Generator, mix_ws
from waifugan.networks.model_file import check_state_dict, load_model
from waifugan.networks.sampling import seeds_to_z, to_uint8
from waifugan.pixels import make_grid, save_image
from waifugan.train import distributed, losses
from waifugan.train.checkpoint import load_checkpoint, save_checkpoint
from waifugan.train.options import TrainOptions
from waifugan.train.rundir import (
    FAKES_INIT_PNG,
    REALS_PNG,
    append_metrics,
    checkpoint_name,
    fakes_name,
)
from waifugan.train.stats import RunLog, peak_memory_mb

GRID_COLS = 8
GRID_SEEDS = list(range(16))  # fixed seeds of every fakes grid: rows at ψ=1, then ψ=0.7


class TrainingLoop:
    """Owns G, D, G_ema, their optimizers, the data stream and the counters of one run."""

    def __init__(
        self,
        opts: TrainOptions,
        run_dir: Path,
        dataset: ImageDataset,
        device: torch.device,
        dist_info: distributed.DistInfo | None = None,
        resume_state: dict[str, Any] | None = None,
        on_step: Callable[[TrainingLoop], None] | None = None,
    ) -> None:
        self.opts = opts
        self.run_dir = run_dir
        self.dataset = dataset
        self.device = device
        self.dist = dist_info or distributed.DistInfo()
        self.on_step = on_step
        self.log = RunLog(run_dir, enabled=self.dist.is_main)
        torch.manual_seed(opts.seed)  # identical initial weights on every rank
        self.G = Generator(opts.G_config()).to(device).train()
        self.D = Discriminator(opts.D_config()).to(device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.G_opt = self._adam(self.G, opts.glr, opts.pl_interval)
        self.D_opt = self._adam(self.D, opts.dlr, opts.r1_interval)
        self.cur_nimg = 0  # real images shown to D so far, over all ranks
        self.cur_tick = 0
        self.batch_idx = 0
        self.tick_start_nimg = 0
        self.pl_mean = torch.zeros([], device=device)  # path-length target a
        self.augment_p = 0.0  # ADA probability (state kept for the adaptive augmentation)
        self._stop_requested = False
        self._tick_sums: dict[str, torch.Tensor] = {}
        if opts.init and resume_state is None:
            self._load_init_weights(opts.init)
        if resume_state is not None:
            self.load_state(resume_state)
        else:
            torch.manual_seed(opts.seed + self.dist.rank)  # per-rank training randomness
        distributed.broadcast_module(self.G, self.dist)
        distributed.broadcast_module(self.D, self.dist)
        distributed.broadcast_module(self.G_ema, self.dist)
        self._reals = self._data_stream()

    # -- setup --------------------------------------------------------------------------------

    @staticmethod
    def _adam(module: torch.nn.Module, lr: float, reg_interval: int) -> torch.optim.Adam:
        # Lazy regularization runs the penalty every k steps at k times the weight; NVlabs
        # scales lr and betas by k/(k+1) so the effective optimizer matches the non-lazy one.
        ratio = reg_interval / (reg_interval + 1)
        return torch.optim.Adam(
            module.parameters(), lr=lr * ratio, betas=(0.0, 0.99**ratio), eps=1e-8
        )

    @property
    def batch_per_rank(self) -> int:
        """Images each process handles per step."""
        return self.opts.batch // self.dist.world_size

    def _data_stream(self) -> Iterator[torch.Tensor]:
        sampler = InfiniteSampler(
            len(self.dataset), self.opts.seed, self.dist.rank, self.dist.world_size, self.cur_nimg
        )
        loader = torch.utils.data.DataLoader(
            self.dataset,
            sampler=sampler,
            batch_size=self.batch_per_rank,
            num_workers=self.opts.workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=self.opts.workers > 0,
            prefetch_factor=2 if self.opts.workers > 0 else None,
            # A private generator: creating the iterator must not consume the training RNG,
            # or a resumed run would diverge from an uninterrupted one.
            generator=torch.Generator().manual_seed(self.opts.seed),
        )
        for batch in loader:
            yield batch.to(self.device, non_blocking=True).float() / 127.5 - 1

    def _load_init_weights(self, path: str) -> None:
        """Transfer learning: weights from any checkpoint/model, counters stay at zero."""
        if path.endswith(".safetensors"):
            G = load_model(path)
            check_state_dict(self.G, G.state_dict(), path)
            self.G.load_state_dict(G.state_dict())
            self.G_ema.load_state_dict(G.state_dict())
            return
        state = load_checkpoint(path, self.device)
        for name, module in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            check_state_dict(module, state[name], f"{path} ({name})")
            module.load_state_dict(state[name])
        self.log.line(f"initialized G, G_ema and D from {path} (transfer learning)")

    # -- the step -----------------------------------------------------------------------------

    def _generate(self, n: int, update_w_avg: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake images for a training phase, with style mixing; returns (img, ws)."""
        z = torch.randn(n, self.G.z_dim, device=self.device)
        ws = self.G.mapping(z, update_w_avg=update_w_avg)
        if self.opts.style_mixing > 0 and torch.rand([]).item() < self.opts.style_mixing:
            cutoff = int(torch.randint(1, self.G.num_ws, []).item())
            ws = mix_ws(ws, self.G.mapping(torch.randn_like(z)), cutoff)
        return self.G.synthesis(ws, noise_mode="random"), ws

    def _optimize(
        self, loss: torch.Tensor, module: torch.nn.Module, opt: torch.optim.Optimizer
    ) -> None:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients(module, self.dist)
        if self.device.type == "cuda":  # FP16 layers can overflow; keep the step finite
            for p in module.parameters():
                if p.grad is not None:
                    torch.nan_to_num_(p.grad, nan=0, posinf=1e5, neginf=-1e5)
        opt.step()

    def _accumulate(self, key: str, value: torch.Tensor) -> None:
        value = value.detach().float().mean()
        self._tick_sums[key] = self._tick_sums.get(key, torch.zeros_like(value)) + value
        self._tick_sums[key + "/n"] = self._tick_sums.get(key + "/n", torch.zeros_like(value)) + 1

    def g_main(self) -> None:
        """Gmain: non-saturating loss on fresh fakes."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        img, _ = self._generate(self.batch_per_rank, update_w_avg=True)
        loss = losses.g_nonsaturating_loss(self.D(img))
        self._optimize(loss, self.G, self.G_opt)
        self._accumulate("loss/G", loss)

    def g_reg(self) -> None:
        """Greg: path-length regularization on a smaller batch, weighted by its interval."""
        n = max(self.batch_per_rank // self.opts.pl_batch_shrink, 1)
        img, ws = self._generate(n)
        lengths = losses.g_path_length(img, ws)
        penalty, self.pl_mean = losses.path_length_penalty(
            lengths, self.pl_mean, self.opts.pl_decay
        )
        self.pl_mean = distributed.average_scalar(self.pl_mean.detach(), self.dist)
        loss = penalty.mean() * self.opts.pl_weight * self.opts.pl_interval
        self._optimize(loss, self.G, self.G_opt)
        self._accumulate("loss/pl_penalty", penalty)

    def d_main(self, real: torch.Tensor) -> None:
        """Dmain: logistic loss on fakes (G frozen) and reals."""
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with torch.no_grad():
            fake, _ = self._generate(self.batch_per_rank)
        loss = losses.d_logistic_loss(self.D(real), self.D(fake))
        self._optimize(loss, self.D, self.D_opt)
        self._accumulate("loss/D", loss)

    def d_reg(self, real: torch.Tensor) -> None:
        """Dreg: lazy R1 on reals, weighted by gamma/2 and its interval."""
        real = real.detach().requires_grad_(True)
        penalty = losses.d_r1_penalty(self.D(real), real)
        loss = penalty.mean() * (self.opts.gamma / 2) * self.opts.r1_interval
        self._optimize(loss, self.D, self.D_opt)
        self._accumulate("loss/r1_penalty", penalty)

    @torch.no_grad()
    def update_ema(self) -> None:
        """G_ema ← lerp towards G with the half-life ema_kimg (ramped up early in training)."""
        ema_nimg = self.opts.ema_kimg * 1000
        if self.opts.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.cur_nimg * self.opts.ema_rampup)
        beta = 0.5 ** (self.opts.batch / max(ema_nimg, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
            p_ema.copy_(p.lerp(p_ema, beta))
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def step(self) -> None:
        """One full step over a batch: Gmain, Greg, Dmain, Dreg, EMA."""
        real = next(self._reals)
        self.g_main()
        if self.opts.pl_weight > 0 and self.batch_idx % self.opts.pl_interval == 0:
            self.g_reg()
        self.d_main(real)
        if self.opts.gamma > 0 and self.batch_idx % self.opts.r1_interval == 0:
            self.d_reg(real)
        self.cur_nimg += self.opts.batch
        self.batch_idx += 1
        self.update_ema()

    # -- ticks, snapshots, state ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once kimg thousand images have been shown."""
        return self.cur_nimg >= self.opts.kimg * 1000

    def run(self) -> None:
        """Train until done or until SIGINT/SIGTERM (then checkpoint and return)."""
        if self.cur_nimg == 0 and self.dist.is_main:
            self.write_start_images()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            signal.signal(sig, self._request_stop)
        total = int(self.opts.kimg * 1000)
        bar = tqdm(
            total=total, initial=min(self.cur_nimg, total), unit="img", unit_scale=True,
            dynamic_ncols=True, disable=not self.dist.is_main, desc="train", mininterval=1.0,
        )  # fmt: skip
        self._tick_start_time = time.perf_counter()
        try:
            while not self.done and not self._stop_requested:
                self.step()
                bar.update(self.opts.batch)
                bar.set_postfix(kimg=f"{self.cur_nimg / 1000:.2f}", refresh=False)
                if self.on_step is not None:
                    self.on_step(self)
                tick_done = self.cur_nimg >= self.tick_start_nimg + self.opts.tick_kimg * 1000
                if tick_done or self.done:
                    self.end_tick()
            if self._stop_requested and not self.done:
                self.log.line(f"stop requested at {self.cur_nimg / 1000:.3f} kimg")
                self.save()
        finally:
            bar.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.log.close()

    def _request_stop(self, signum: int, frame: object) -> None:
        if self._stop_requested:  # a second Ctrl-C: stop now, losing only this step
            raise KeyboardInterrupt
        self._stop_requested = True
        print("\nstopping after this step; writing a checkpoint...", flush=True)

    def end_tick(self) -> None:
        """Log this tick's statistics; snapshot every `snap` ticks and at the end."""
        sums = {k: distributed.average_scalar(v, self.dist) for k, v in self._tick_sums.items()}
        self._tick_sums = {}
        means = {k: (sums[k] / sums[k + "/n"]).item() for k in sums if not k.endswith("/n")}
        elapsed = time.perf_counter() - self._tick_start_time
        tick_nimg = self.cur_nimg - self.tick_start_nimg
        record: dict[str, Any] = {
            "kimg": self.cur_nimg / 1000,
            "tick": self.cur_tick,
            **{k: round(v, 6) for k, v in sorted(means.items())},
            "pl_mean": round(float(self.pl_mean), 6),
            "augment_p": self.augment_p,
            "sec_per_tick": round(elapsed, 3),
            "sec_per_kimg": round(elapsed / max(tick_nimg, 1) * 1000, 3),
            "img_per_s": round(tick_nimg / max(elapsed, 1e-9), 2),
            **{k: round(v, 1) for k, v in peak_memory_mb(self.device).items()},
        }
        self.log.tick(record)
        losses_text = " ".join(f"{k.split('/')[1]} {v:.3f}" for k, v in sorted(means.items()))
        self.log.line(
            f"tick {self.cur_tick:<4d} kimg {record['kimg']:<8.3f} {losses_text} "
            f"sec/kimg {record['sec_per_kimg']:.1f} img/s {record['img_per_s']:.1f} "
            f"rss {record['peak_rss_mb']:.0f}MB",
            echo=False,
        )
        self.check_finite(means)
        self.cur_tick += 1
        self.tick_start_nimg = self.cur_nimg
        if self.cur_tick % self.opts.snap == 0 or self.done:
            self.snapshot()
        self._tick_start_time = time.perf_counter()

    def check_finite(self, means: dict[str, float]) -> None:
        """Stop with a clear message instead of writing a poisoned checkpoint."""
        bad = [k for k, v in means.items() if not math.isfinite(v)]
        for name, module in (("G", self.G), ("D", self.D), ("G_ema", self.G_ema)):
            for pname, p in module.named_parameters():
                if not torch.isfinite(p).all():
                    bad.append(f"{name}.{pname}")
                    break
        if bad:
            raise WaifuganError(
                f"training diverged at {self.cur_nimg / 1000:.3f} kimg: non-finite "
                f"{', '.join(bad)}. No checkpoint was written for this state; resume from the "
                "last good one with a lower --glr/--dlr or a higher --gamma"
            )

    def write_start_images(self) -> None:
        """reals.png (dataset sample) and fakes_init.png (the untrained G_ema)."""
        n = min(len(self.dataset), 32)
        reals = np.stack([self.dataset[i].transpose(1, 2, 0) for i in range(n)])
        save_image(make_grid(reals, GRID_COLS), self.run_dir / REALS_PNG)
        save_image(self.fakes_grid(), self.run_dir / FAKES_INIT_PNG)

    @torch.no_grad()
    def fakes_grid(self) -> np.ndarray:
        """Fixed-seed grid of G_ema: the first rows at ψ=1, the rest at ψ=0.7."""
        z = seeds_to_z(GRID_SEEDS, self.G.z_dim).to(self.device)
        rows = [to_uint8(self.G_ema(z, psi=psi)) for psi in (1.0, 0.7)]
        return make_grid(np.concatenate(rows), GRID_COLS)

    def snapshot(self) -> None:
        """fakesNNNNNN.png, checkpoint-NNNNNN.pt and, when configured, metrics."""
        if self.dist.is_main:
            save_image(self.fakes_grid(), self.run_dir / fakes_name(self.cur_nimg))
            path = self.save()
            self.log.line(f"snapshot {path.name} at {self.cur_nimg / 1000:.3f} kimg", echo=False)
        snapshot_idx = self.cur_tick // self.opts.snap
        if self.opts.metrics and snapshot_idx % self.opts.metrics_every == 0:
            self.evaluate_metrics()

    def evaluate_metrics(self) -> None:
        """Metrics of G_ema at ψ=1, appended to metrics.jsonl and TensorBoard."""
        from waifugan.metrics.registry import compute_metrics

        if not self.dist.is_main:
            return
        results = compute_metrics(list(self.opts.metrics), self.G_ema, self.opts.data, self.device)
        record = {"kimg": self.cur_nimg / 1000, "snapshot": checkpoint_name(self.cur_nimg)}
        append_metrics(self.run_dir, {**record, **results})
        self.log.scalars(results, self.cur_nimg / 1000)
        self.log.line("metrics " + " ".join(f"{k} {v:.4g}" for k, v in results.items()))

    def save(self) -> Path:
        """Write the complete training state as checkpoint-NNNNNN.pt (rank 0 only)."""
        path = self.run_dir / checkpoint_name(self.cur_nimg)
        if self.dist.is_main:
            save_checkpoint(self.state_dict(), path)
        return path

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimizers, counters, RNG."""
        rng: dict[str, Any] = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "G": self.G.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "D": self.D.state_dict(),
            "G_opt": self.G_opt.state_dict(),
            "D_opt": self.D_opt.state_dict(),
            "cur_nimg": self.cur_nimg,
            "cur_tick": self.cur_tick,
            "batch_idx": self.batch_idx,
            "tick_start_nimg": self.tick_start_nimg,
            "pl_mean": self.pl_mean.detach().cpu(),
            "augment": {"p": self.augment_p},
            "rng": rng,
            "options": self.opts.to_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint; a different network configuration is refused."""
        for name, module in (("G", self.G), ("G_ema", self.G_ema), ("D", self.D)):
            check_state_dict(module, state[name], f"checkpoint {name}")
            module.load_state_dict(state[name])
        self.G_opt.load_state_dict(state["G_opt"])
        self.D_opt.load_state_dict(state["D_opt"])
        self.cur_nimg = int(state["cur_nimg"])
        self.cur_tick = int(state.get("cur_tick", 0))
        self.batch_idx = int(state.get("batch_idx", 0))
        self.tick_start_nimg = int(state.get("tick_start_nimg", self.cur_nimg))
        self.pl_mean = state.get("pl_mean", torch.zeros([])).to(self.device)
        self.augment_p = float(state.get("augment", {}).get("p", 0.0))
        rng = state.get("rng", {})
        if "torch" in rng:
            torch.set_rng_state(rng["torch"].cpu())
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state(rng["cuda"].cpu(), self.device)
