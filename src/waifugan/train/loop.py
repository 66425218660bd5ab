"""The StyleGAN2 training loop: one class whose methods are the phases of a step.

Per step (batch_idx counts steps): Gmain, Greg (path length, every pl_interval steps),
Dmain, Dreg (R1, every r1_interval steps), then the G_ema update. Each phase runs over this
process's chunks of the global batch (chunks.py: rounds of --batch-gpu images, each with its
own derived seed), sums the gradients over all processes and takes one optimizer step.
Every `tick_kimg` a tick ends (stats, log); every `snap` ticks a snapshot (fakes grid,
checkpoint, metrics).
Construction of the networks lives in setup.py, the data stream in stream.py, the images a
snapshot writes in snapshot.py and the per-tick records in stats.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from waifugan.data.dataset import ImageDataset
from waifugan.networks.generator import mix_ws
from waifugan.train import chunks, distributed, faults, losses, setup, snapshot, transfer
from waifugan.train.checkpoint import save_checkpoint
from waifugan.train.d_augment import DAugment
from waifugan.train.options import TrainOptions
from waifugan.train.rundir import append_metrics, checkpoint_name, prune_checkpoints
from waifugan.train.stats import (
    RunLog,
    SlowdownWatch,
    TickStats,
    progress_bar,
    raise_if_non_finite,
    tick_line,
    tick_record,
)
from waifugan.train.stop import StopRequests
from waifugan.train.stream import real_batches

# What training calls at snapshots with G_ema: metric name → value (see metrics.registry).
Evaluate = Callable[[Any], dict[str, float]]


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
        evaluate: Evaluate | None = None,  # required when opts.metrics (run.train checks)
        stop_at: float | None = None,  # time.time() at which to stop (`--minutes`)
    ) -> None:
        self.opts = opts
        self.run_dir = run_dir
        self.dataset = dataset
        self.device = device
        self.dist = dist_info or distributed.DistInfo()
        self.on_step = on_step
        self.evaluate = evaluate
        self.stop_at = stop_at
        self.log = RunLog(run_dir, enabled=self.dist.is_main)
        self.split = chunks.split_batch(opts.batch, opts.batch_gpu, self.dist.rank,
                                        self.dist.world_size)  # fmt: skip
        self._w_sums: dict[str, torch.Tensor] = {}  # phase → sum of its chunks' mean w
        self.nets = setup.build_networks(opts, device)  # identical initial weights on every rank
        self.G, self.D, self.G_ema = self.nets.G, self.nets.D, self.nets.G_ema
        self.num_params = self.nets.num_params()
        self.log.line(", ".join(f"{k} {v:,} parameters" for k, v in self.num_params.items()))
        self.cur_nimg = 0  # real images shown to D so far, over all ranks
        self.cur_tick = 0
        self.batch_idx = 0
        self.tick_start_nimg = 0
        self.pl_mean = torch.zeros([], device=device)  # path-length target a
        self.augment = DAugment(opts)  # everything D sees; ADA adjusts its p
        self.frozen_d = transfer.frozen_d_blocks(self.D, opts.freezed)  # Freeze-D
        self.started_from: dict[str, Any] | None = None  # the --init source, for options.json
        self._stop = StopRequests()  # SIGINT / SIGTERM: finish the step, checkpoint, return
        self._tick_stats = TickStats()
        self._slowdown = SlowdownWatch()
        if opts.init and resume_state is None:
            modules = dict(self.nets.modules())
            report, source = transfer.init_weights(modules, opts.init, opts.resolution, device)
            self.log.line(transfer.transfer_table(report, source))
            self.started_from = transfer.started_from(report, source)
        if resume_state is not None:
            self.load_state(resume_state)
        for module in (self.G, self.D, self.G_ema):
            distributed.broadcast_module(module, self.dist)
        self._reals = real_batches(dataset, opts, self.dist, self.cur_nimg, device)

    # -- the step -----------------------------------------------------------------------------

    def run_D(self, img: torch.Tensor) -> torch.Tensor:
        """D's logits for augmented images: every image D sees goes through the pipe."""
        return self.D(self.augment(img))

    def _seed(self, phase: str, round_idx: int) -> None:
        """Seed this chunk's random numbers (latents, noise, mixing, augmentation)."""
        chunk = self.split.chunk_index(round_idx)
        chunks.seed_chunk(self.opts.seed, self.batch_idx, phase, chunk)

    def _generate(self, n: int, phase: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Fake images for a training phase, with style mixing; returns (img, ws).

        Every phase's mapping call counts towards w_avg, as in NVlabs (the mixing latents do
        not): the chunk's mean w is summed here and applied once per step (`_update_w_avg`).
        """
        z = torch.randn(n, self.G.z_dim, device=self.device)
        ws = self.G.mapping(z)
        w_mean = ws[:, 0].detach().mean(dim=0)
        self._w_sums[phase] = self._w_sums.get(phase, torch.zeros_like(w_mean)) + w_mean
        if self.opts.style_mixing > 0 and torch.rand([]).item() < self.opts.style_mixing:
            cutoff = int(torch.randint(1, self.G.num_ws, []).item())
            ws = mix_ws(ws, self.G.mapping(torch.randn_like(z)), cutoff)
        return self.G.synthesis(ws, noise_mode="random"), ws

    def _backward(self, loss: torch.Tensor) -> None:
        """Accumulate one chunk's gradients, weighted so that their sum is the global mean."""
        (loss * self.split.loss_scale).backward()

    def _step(self, module: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        distributed.sum_gradients(module, self.dist)  # over ranks; NaN/inf scrubbed everywhere
        opt.step()

    def g_main(self) -> None:
        """Gmain: non-saturating loss on fresh fakes."""
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.nets.G_opt.zero_grad(set_to_none=True)
        for round_idx in range(self.split.rounds):
            self._seed("g_main", round_idx)
            img, _ = self._generate(self.split.batch_gpu, "g_main")
            loss = losses.g_nonsaturating_loss(self.run_D(img))
            self._backward(loss)
            self._tick_stats.add("loss/G", loss)
        self._step(self.G, self.nets.G_opt)

    def g_reg(self) -> None:
        """Greg: path-length regularization on a smaller batch, weighted by its interval."""
        n = max(self.split.batch_gpu // self.opts.pl_batch_shrink, 1)
        self.nets.G_opt.zero_grad(set_to_none=True)
        targets = torch.zeros_like(self.pl_mean)
        for round_idx in range(self.split.rounds):
            self._seed("g_reg", round_idx)
            img, ws = self._generate(n, "g_reg")
            lengths = losses.g_path_length(img, ws)
            penalty, target = losses.path_length_penalty(lengths, self.pl_mean, self.opts.pl_decay)
            targets += target.detach()
            self._backward(penalty.mean() * self.opts.pl_weight * self.opts.pl_interval)
            self._tick_stats.add("loss/pl_penalty", penalty)
        self._step(self.G, self.nets.G_opt)
        # The target moves towards the global batch's mean length: a lerp is linear, so that is
        # the mean of the chunks' targets, whatever the number of ranks.
        self.pl_mean = distributed.sum_tensor(targets, self.dist) / self.split.total

    def d_main(self, real: torch.Tensor) -> None:
        """Dmain: logistic loss on fakes (G frozen) and reals."""
        self.G.requires_grad_(False)
        transfer.set_d_trainable(self.D, self.frozen_d, True)  # frozen blocks: no gradients
        self.nets.D_opt.zero_grad(set_to_none=True)
        for round_idx, real_chunk in enumerate(real.split(self.split.batch_gpu)):
            self._seed("d_main", round_idx)
            with torch.no_grad():
                fake, _ = self._generate(self.split.batch_gpu, "d_main")
            real_logits = self.run_D(real_chunk)
            self.augment.observe(real_logits)
            loss = losses.d_logistic_loss(real_logits, self.run_D(fake))
            self._backward(loss)
            self._tick_stats.add("loss/D", loss)
        self._step(self.D, self.nets.D_opt)

    def d_reg(self, real: torch.Tensor) -> None:
        """Dreg: lazy R1 on reals, weighted by gamma/2 and its interval; the gradient is taken
        with respect to the un-augmented reals, through the augmentation."""
        self.nets.D_opt.zero_grad(set_to_none=True)
        for round_idx, real_chunk in enumerate(real.split(self.split.batch_gpu)):
            self._seed("d_reg", round_idx)
            real_chunk = real_chunk.detach().requires_grad_(True)
            penalty = losses.d_r1_penalty(self.run_D(real_chunk), real_chunk)
            self._backward(penalty.mean() * (self.opts.gamma / 2) * self.opts.r1_interval)
            self._tick_stats.add("loss/r1_penalty", penalty)
        self._step(self.D, self.nets.D_opt)

    def _update_w_avg(self) -> None:
        """w_avg ← lerp towards each phase's mean w over the global batch, in phase order."""
        phases = [phase for phase in chunks.PHASES if phase in self._w_sums]
        sums = distributed.sum_tensor(torch.stack([self._w_sums[p] for p in phases]), self.dist)
        for w_mean in sums / self.split.total:
            self.G.mapping.update_w_avg(w_mean)
        self._w_sums = {}

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
        self.augment.update(self.batch_idx, self.opts.batch, self.dist, self.device)  # ADA
        self._update_w_avg()
        self.cur_nimg += self.opts.batch
        self.batch_idx += 1
        self.update_ema()

    # -- ticks, snapshots, state ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        """True once kimg thousand images have been shown."""
        return self.cur_nimg >= self.opts.kimg * 1000

    @property
    def time_is_up(self) -> bool:
        """True once the wall-clock limit (`stop_at`, from `--minutes`) has passed."""
        return self.stop_at is not None and time.time() >= self.stop_at

    def run(self) -> None:
        """Train until done, until the time limit (then a fakes grid and a checkpoint) or
        until SIGINT/SIGTERM (then a checkpoint), and return."""
        if self.cur_nimg == 0 and self.dist.is_main:
            snapshot.write_start_images(self.run_dir, self.dataset, self.G_ema)
        bar = progress_bar(int(self.opts.kimg * 1000), self.cur_nimg, self.dist.is_main)
        self._tick_start_time = time.perf_counter()
        start_nimg = self.cur_nimg
        stop = False  # every rank stops after the same step: a request on any one counts
        with self._stop.installed():
            try:
                while not self.done and not stop:
                    self.step()
                    bar.update(self.opts.batch)
                    bar.set_postfix(kimg=f"{self.cur_nimg / 1000:.2f}", refresh=False)
                    if self.on_step is not None:
                        self.on_step(self)
                    tick_done = self.cur_nimg >= self.tick_start_nimg + self.opts.tick_kimg * 1000
                    if tick_done or self.done:
                        self.end_tick()
                    faults.crash_if_passed(start_nimg, self.cur_nimg)  # tests: WAIFUGAN_FAULT
                    wants_stop = self._stop.requested or self.time_is_up
                    stop = distributed.any_rank(wants_stop, self.dist, self.device)
                if stop and not self.done:
                    self.stop_early()
            finally:
                bar.close()
                self._reals.close()  # shuts the DataLoader workers down after the checkpoint
                self.log.close()

    def stop_early(self) -> None:
        """Before kimg: checkpoint after a stop request; also the fakes grid at the time limit
        (a signal may come with a short grace period, the time limit leaves room for it)."""
        kimg = self.cur_nimg / 1000
        if self._stop.requested or not self.time_is_up:  # a request here or on another rank
            self.log.line(f"stop requested at {kimg:.3f} kimg")
        else:
            self.log.line(f"time limit (--minutes) reached at {kimg:.3f} kimg")
            if self.dist.is_main:
                snapshot.write_fakes(self.run_dir, self.G_ema, self.cur_nimg)
        self.save()

    def request_stop(self) -> None:
        """Finish this step, write a checkpoint and return from run(), as SIGTERM does."""
        self._stop.request()

    def end_tick(self) -> None:
        """Log this tick's statistics; snapshot every `snap` ticks and at the end."""
        means = self._tick_stats.means(self.dist)
        extra = {"pl_mean": round(float(self.pl_mean), 6), **self.augment.tick_stats()}
        elapsed = time.perf_counter() - self._tick_start_time
        tick_nimg = self.cur_nimg - self.tick_start_nimg
        record = tick_record(
            self.cur_nimg, self.cur_tick, means, extra, elapsed, tick_nimg, self.device
        )
        self.log.tick(record)
        self.log.line(tick_line(record, means), echo=False)
        warning = self._slowdown.observe(record["img_per_s"], self.cur_tick, self.device)
        if warning:
            self.log.line(warning)
        self.check_finite(means)
        self.cur_tick += 1
        self.tick_start_nimg = self.cur_nimg
        if self.cur_tick % self.opts.snap == 0 or self.done:
            self.snapshot()
        self._tick_start_time = time.perf_counter()

    def check_finite(self, means: dict[str, float]) -> None:
        """Stop with a clear message instead of writing a poisoned checkpoint."""
        modules = (("G", self.G), ("D", self.D), ("G_ema", self.G_ema))
        raise_if_non_finite(means, modules, self.cur_nimg)

    def snapshot(self) -> None:
        """fakesNNNNNN.png, checkpoint-NNNNNN.pt and, when configured, metrics."""
        if self.dist.is_main:
            snapshot.write_fakes(self.run_dir, self.G_ema, self.cur_nimg)
            path = self.save()
            self.log.line(f"snapshot {path.name} at {self.cur_nimg / 1000:.3f} kimg", echo=False)
        snapshot_idx = self.cur_tick // self.opts.snap
        if self.opts.metrics and snapshot_idx % self.opts.metrics_every == 0:
            self.evaluate_metrics()

    def evaluate_metrics(self) -> None:
        """Metrics of G_ema (the evaluator passed in), appended to metrics.jsonl and TensorBoard."""
        if not self.dist.is_main or self.evaluate is None:  # None only without opts.metrics
            return
        results = self.evaluate(self.G_ema)
        record = {"kimg": self.cur_nimg / 1000, "snapshot": checkpoint_name(self.cur_nimg)}
        append_metrics(self.run_dir, {**record, **results})
        self.log.scalars(results, self.cur_nimg / 1000)
        self.log.line("metrics " + " ".join(f"{k} {v:.4g}" for k, v in results.items()))

    def save(self) -> Path:
        """Write the complete training state as checkpoint-NNNNNN.pt (rank 0 only)."""
        path = self.run_dir / checkpoint_name(self.cur_nimg)
        if self.dist.is_main:
            save_checkpoint(self.state_dict(), path)
            opts = self.opts
            removed = prune_checkpoints(self.run_dir, opts.keep, opts.keep_every_kimg, path)
            if removed:
                names = ", ".join(p.name for p in removed)
                self.log.line(f"--keep {opts.keep}: deleted {names}", echo=False)
        return path

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimizers, counters (random numbers
        are derived from the seed and the step, chunks.py: no generator state to save)."""
        return {
            **setup.network_state(self.nets),
            "cur_nimg": self.cur_nimg,
            "cur_tick": self.cur_tick,
            "batch_idx": self.batch_idx,
            "tick_start_nimg": self.tick_start_nimg,
            "pl_mean": self.pl_mean.detach().cpu(),
            "augment": self.augment.state_dict(),
            "options": self.opts.to_dict(),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint with the resolved options' lr and betas; a different
        network configuration is refused."""
        setup.load_network_state(self.nets, state, self.opts)
        self.cur_nimg = int(state["cur_nimg"])
        self.cur_tick = int(state.get("cur_tick", 0))
        self.batch_idx = int(state.get("batch_idx", 0))
        self.tick_start_nimg = int(state.get("tick_start_nimg", self.cur_nimg))
        self.pl_mean = state.get("pl_mean", torch.zeros([])).to(self.device)
        self.augment.load_state_dict(state.get("augment"))
