"""`waifugan train-tagger`: train the multi-label tagger on a dataset's own tags and report
per-tag precision and recall on a held-out split.

The report compares every tag with the majority-class baseline (always answer what most
training images have), so a tag the tagger has not learned is visible at a glance.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from waifugan.cards.labels import LabelledImages, load_labelled
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.networks.tagger import Tagger, TaggerConfig, save_tagger
from waifugan.pixels import is_valid_resolution

ADVENTURER_EXCLUDE = ("*_variant*",)  # the adventurer set's eyes/mouth sprite ids: not traits


@dataclass(frozen=True)
class TaggerTrainOptions:
    """Every option of `waifugan train-tagger`."""

    data: str  # dataset zip or folder
    output: str = "tagger.safetensors"
    metadata: tuple[str, ...] = ()  # Danbooru JSON lines; empty: look inside `data`
    report: str | None = None  # text report path; None: <output stem>-report.txt beside it
    resolution: int = 64  # side the tagger sees
    min_count: int = 50  # learn only tags on at least this many images
    exclude_tags: tuple[str, ...] = ()  # glob patterns of tags not to learn
    max_tags: int = 64
    max_images: int | None = None  # first N labelled images only
    holdout: float = 0.1  # share of images kept out of training, for the report
    epochs: int = 12  # 64 px adventurer: 12 x 140 steps, ~10 min on one core
    batch: int = 64
    lr: float = 2e-3  # AdamW, cosine decay to 0 over the run
    weight_decay: float = 1e-4
    balance: bool = True  # weigh each tag's positives by sqrt(negatives / positives)
    channel_base: int = 16
    channel_max: int = 128
    threshold: float = 0.5  # probability at which a tag counts as present in the report
    seed: int = 0
    device: str = "auto"
    threads: int | None = None  # torch intra-op threads; None: torch's default

    def __post_init__(self) -> None:
        if not 0 < self.holdout < 1:
            raise WaifuganError(f"--holdout {self.holdout} must be between 0 and 1")
        for name in ("epochs", "batch", "min_count", "max_tags"):
            if getattr(self, name) < 1:
                raise WaifuganError(f"--{name.replace('_', '-')} must be at least 1")
        if not is_valid_resolution(self.resolution, minimum=8):
            raise WaifuganError(f"--resolution {self.resolution} is not a power of two ≥ 8")
        if not 0 < self.threshold < 1:
            raise WaifuganError(f"--threshold {self.threshold} must be between 0 and 1")

    @property
    def report_path(self) -> Path:
        """Where the text report goes."""
        out = Path(self.output)
        return Path(self.report) if self.report else out.with_name(f"{out.stem}-report.txt")


def adventurer_options(data: str, output: str, resolution: int = 64) -> TaggerTrainOptions:
    """The recipe for the adventurer set (../shared/data/adventurer-train-128.zip): every
    trait tag, not its eyes/mouth sprite ids; 64 px for the bundled model, 32 px for the demo
    model (whose built-in data are the set's first 600 faces at 32 px)."""
    return TaggerTrainOptions(
        data=data, output=output, resolution=resolution, exclude_tags=ADVENTURER_EXCLUDE
    )


@dataclass(frozen=True)
class TagScore:
    """How well one tag is seen on the held-out images."""

    tag: str
    train_count: int  # training images with the tag
    test_count: int  # held-out images with the tag
    precision: float  # of held-out images tagged, the share that truly have it
    recall: float  # of held-out images that have it, the share tagged
    accuracy: float
    baseline_accuracy: float  # always answering the training majority


def split_indices(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded shuffle of 0..n-1 split into (train, held-out); at least one of each."""
    order = np.random.RandomState(seed).permutation(n)
    n_test = min(max(1, round(n * holdout)), n - 1)
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def score_tags(
    probs: np.ndarray, labels: np.ndarray, train_labels: np.ndarray, tags: tuple[str, ...],
    threshold: float = 0.5,
) -> list[TagScore]:  # fmt: skip
    """Per-tag precision, recall, accuracy and the majority-class baseline on held-out rows."""
    predicted = probs >= threshold
    truth = labels >= 0.5
    scores = []
    for j, tag in enumerate(tags):
        tp = int(np.sum(predicted[:, j] & truth[:, j]))
        n_pred, n_true = int(predicted[:, j].sum()), int(truth[:, j].sum())
        majority = train_labels[:, j].mean() >= 0.5
        scores.append(
            TagScore(
                tag=tag,
                train_count=int(train_labels[:, j].sum()),
                test_count=n_true,
                precision=tp / n_pred if n_pred else 0.0,
                recall=tp / n_true if n_true else 0.0,
                accuracy=float(np.mean(predicted[:, j] == truth[:, j])),
                baseline_accuracy=float(np.mean(truth[:, j] == majority)),
            )
        )
    return scores


def format_report(scores: list[TagScore], header: str) -> str:
    """A fixed-width table of TagScores under a header."""
    lines = [
        header,
        f"{'tag':<16} {'train':>6} {'test':>5} {'precision':>9} {'recall':>6} "
        f"{'accuracy':>8} {'baseline':>8}",
    ]
    for s in scores:
        mark = "" if s.accuracy > s.baseline_accuracy else "  (not above baseline)"
        lines.append(
            f"{s.tag:<16} {s.train_count:>6} {s.test_count:>5} {s.precision:>9.3f} "
            f"{s.recall:>6.3f} {s.accuracy:>8.3f} {s.baseline_accuracy:>8.3f}{mark}"
        )
    return "\n".join(lines) + "\n"


def fit(
    tagger: Tagger, data: LabelledImages, train_idx: np.ndarray, opts: TaggerTrainOptions
) -> None:
    """Train in place: AdamW on binary cross-entropy per tag, random x-flips (Danbooru face
    tags do not depend on left/right), cosine learning-rate decay.

    With `balance`, a tag's positive examples weigh sqrt(negatives / positives) (capped at
    10): a tag on 5% of images (blush, freckles) otherwise learns "never" first and may stay
    there; the square root keeps precision from collapsing as the full ratio would.
    """
    device = tagger.device
    pos_weight = None
    if opts.balance:
        positives = data.labels[train_idx].sum(axis=0).clip(min=1)
        ratio = (len(train_idx) - positives) / positives
        pos_weight = torch.from_numpy(np.sqrt(ratio.clip(1, 100)).astype(np.float32)).to(device)
    steps_per_epoch = max(1, len(train_idx) // opts.batch)
    optimizer = torch.optim.AdamW(tagger.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps_per_epoch * opts.epochs)
    flips = torch.Generator().manual_seed(opts.seed)
    tagger.train()
    bar = tqdm(total=steps_per_epoch * opts.epochs, desc="training tagger", unit="step")
    for epoch in range(opts.epochs):
        order = np.random.RandomState(opts.seed + 1 + epoch).permutation(train_idx)
        for step in range(steps_per_epoch):
            rows = np.sort(order[step * opts.batch : (step + 1) * opts.batch])
            img = torch.from_numpy(data.images[rows]).float().div_(127.5).sub_(1)
            flip = torch.rand(len(rows), generator=flips) < 0.5
            img[flip] = img[flip].flip(-1)
            target = torch.from_numpy(data.labels[rows])
            logits = tagger(img.to(device))
            loss = F.binary_cross_entropy_with_logits(
                logits, target.to(device), pos_weight=pos_weight
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            bar.update()
            bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
    bar.close()
    tagger.eval()


def train_tagger(opts: TaggerTrainOptions) -> tuple[Path, list[TagScore]]:
    """Load the labelled images, train, score on the held-out split, save the tagger (with
    the scores in its metadata) and the text report; returns (tagger path, scores)."""
    if opts.threads:
        torch.set_num_threads(opts.threads)
    started = time.monotonic()
    data = load_labelled(
        opts.data, opts.metadata, opts.resolution, opts.min_count, opts.exclude_tags,
        opts.max_tags, opts.max_images,
    )  # fmt: skip
    if len(data.ids) < 2:
        raise WaifuganError(f"{opts.data}: need at least 2 labelled images, found {len(data.ids)}")
    train_idx, test_idx = split_indices(len(data.ids), opts.holdout, opts.seed)
    torch.manual_seed(opts.seed)
    cfg = TaggerConfig(
        tags=data.tags, img_resolution=opts.resolution, channel_base=opts.channel_base,
        channel_max=opts.channel_max,
    )  # fmt: skip
    tagger = Tagger(cfg).to(resolve_device(opts.device))
    fit(tagger, data, train_idx, opts)
    images = data.images[test_idx].transpose(0, 2, 3, 1)  # [N, R, R, 3], what predict takes
    probs = tagger.predict(images)
    scores = score_tags(
        probs, data.labels[test_idx], data.labels[train_idx], data.tags, opts.threshold
    )
    minutes = (time.monotonic() - started) / 60
    header = (
        f"tagger {opts.output}: {len(data.tags)} tags, {opts.resolution} px, "
        f"{len(train_idx)} training / {len(test_idx)} held-out images of {opts.data} "
        f"({data.unmatched} without metadata left out), {opts.epochs} epochs, "
        f"{minutes:.1f} min; threshold {opts.threshold}"
    )
    report = format_report(scores, header)
    extra = {
        "data": str(opts.data),
        "held_out_images": len(test_idx),
        "threshold": opts.threshold,
        "scores": [asdict(s) for s in scores],
    }
    path = save_tagger(tagger.cpu(), opts.output, extra=extra)
    opts.report_path.parent.mkdir(parents=True, exist_ok=True)
    opts.report_path.write_text(report, encoding="utf-8")
    return path, scores
