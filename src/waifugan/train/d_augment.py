"""Everything D sees in a step, reals and fakes alike, goes through `DAugment`: the ADA pipe
(train/augment.py; p fixed with --aug fixed, adapted by AdaController with --aug ada) and/or
DiffAugment (train/diffaugment.py). The loop only calls it and reports its state."""

from __future__ import annotations

from typing import Any

import torch

from waifugan.train import distributed
from waifugan.train.augment import AdaController, AugmentPipe
from waifugan.train.diffaugment import diff_augment, parse_policy
from waifugan.train.options import TrainOptions


class DAugment:
    """The augmentation of D's inputs for one run, with its checkpointed state."""

    def __init__(self, opts: TrainOptions) -> None:
        self.pipe = AugmentPipe(opts.augpipe, opts.p) if opts.aug != "none" else None
        self.diffaug_policy = parse_policy(opts.diffaug)
        self.ada = (
            AdaController(opts.target, opts.ada_kimg, p=opts.p) if opts.aug == "ada" else None
        )

    @property
    def p(self) -> float:
        """The current augmentation probability (0 with --aug none)."""
        return self.pipe.p if self.pipe is not None else 0.0

    def __call__(self, img: torch.Tensor) -> torch.Tensor:  # [N, 3, H, W], differentiable
        """img as D sees it."""
        if self.pipe is not None:
            img = self.pipe(img)
        if self.diffaug_policy:
            img = diff_augment(img, self.diffaug_policy)
        return img

    def observe(self, real_logits: torch.Tensor) -> None:
        """D's logits on (augmented) reals: what ADA's overfitting heuristic counts."""
        if self.ada is not None:
            self.ada.observe(real_logits)

    def update(
        self, batch_idx: int, batch: int, dist: distributed.DistInfo, device: torch.device
    ) -> None:
        """Every ada_interval steps: move p by the sign statistic summed over all ranks."""
        ada, pipe = self.ada, self.pipe
        if ada is None or pipe is None or (batch_idx + 1) % ada.interval:
            return  # the all-reduce only when an interval ends
        stats = torch.tensor([ada.sign_sum, ada.sign_count], device=device)
        totals = distributed.average_scalar(stats, dist) * dist.world_size
        if ada.update(batch_idx, batch, (float(totals[0]), float(totals[1]))):
            pipe.p = ada.p

    def tick_stats(self) -> dict[str, float]:
        """p, and ADA's r_t = E[sign(D(real))] when adapting, for stats.jsonl."""
        stats = {"augment_p": self.p}
        if self.ada is not None:
            stats["augment_rt"] = self.ada.rt
        return stats

    def state_dict(self) -> dict[str, Any]:
        """The checkpoint's "augment" entry."""
        return self.ada.state_dict() if self.ada else {"p": self.p}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Continue ADA where the checkpoint left it (--aug fixed keeps --p)."""
        if self.ada is not None:
            if state is not None:
                self.ada.load_state_dict(state)
            if self.pipe is not None:
                self.pipe.p = self.ada.p
