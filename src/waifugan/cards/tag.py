"""`waifugan tag`: tags with confidences for a model's faces (by seed) or for image files.

An input that is a model (`.safetensors`, a checkpoint, a run directory) is drawn from at the
given seeds and ψ, and its faces get whole cards; anything else is read as images (files,
folders, zips), centre-cropped to a square, and tagged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from waifugan.cards.card import DEFAULT_THRESHOLD, Card, CardWriter, StoryModel, tagger_beside
from waifugan.devices import resolve_device
from waifugan.errors import WaifuganError
from waifugan.networks.tagger import TaggerFile, load_tagger
from waifugan.prepare.decode import DecodeError, decode
from waifugan.prepare.sources import ItemReader, iter_sources

MODEL_SUFFIXES = (".safetensors", ".pt", ".pkl")
MAX_PIXELS = 16384 * 16384  # refuse decompression bombs, as prepare does by default


@dataclass(frozen=True)
class ImageTags:
    """The tags of one image file, or why it could not be read."""

    key: str
    tags: tuple[tuple[str, float], ...] = ()
    error: str | None = None


def is_model(path: str) -> bool:
    """Whether an input names a model (file with a model suffix, or a run directory)."""
    p = Path(path)
    if p.is_dir():
        return any(p.glob("checkpoint-*.pt")) or (p / "options.json").is_file()
    return p.suffix.lower() in MODEL_SUFFIXES


def find_tagger(tagger: str | None, model: str | None, device: str = "cpu") -> TaggerFile:
    """The tagger to use: --tagger, else the one a model carries beside it; refused with a
    message saying how to get one."""
    path = Path(tagger) if tagger else (tagger_beside(model) if model else None)
    if path is None:
        beside = f" and {model} carries none beside it" if model else ""
        raise WaifuganError(
            f"no tagger given{beside}: pass --tagger PATH (train one with `waifugan train-tagger`)"
        )
    return load_tagger(path, device=resolve_device(device))


def card_writer(
    model: str, tagger: str | None, story_model: str | None, device: str = "cpu",
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[CardWriter, Path | None]:  # fmt: skip
    """The CardWriter `waifugan serve` uses and its tagger's path: --tagger, else the tagger
    beside the model, else none (cards then have a name and a story but no tags)."""
    found = find_tagger(tagger, model, device) if tagger or tagger_beside(model) else None
    writer = make_writer(found, story_model, threshold, device)
    return writer, found.path if found else None


def _square_crop(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return rgb[top : top + side, left : left + side]


def tag_files(inputs: Sequence[str], writer: CardWriter) -> Iterator[ImageTags]:
    """Tags of every image of the inputs, in order; unreadable files give an error row."""
    reader = ItemReader()
    try:
        for item in iter_sources(tuple(inputs)):
            try:
                rgb = decode(reader.read(item), MAX_PIXELS).rgb
            except (DecodeError, OSError, KeyError) as error:
                yield ImageTags(item.key, error=str(error))
                continue
            tags = writer.tags(_square_crop(rgb)[None])[0]
            yield ImageTags(item.key, tuple(tags))
    finally:
        reader.close()


def model_cards(
    model: str,
    writer: CardWriter,
    seeds: Sequence[int],
    psi: float,
    device: str = "cpu",
) -> list[Card]:
    """Cards of a model's faces at seeds and ψ (drawn as `waifugan generate` draws them)."""
    from waifugan import load

    G = load(model, device=resolve_device(device))
    images = G.sample(list(seeds), psi=psi)  # [N, H, W, 3] uint8
    return writer.cards(seeds, psi, images)


def make_writer(
    tagger: TaggerFile | None, story_model: str | None, threshold: float, device: str = "cpu"
) -> CardWriter:
    """A CardWriter with the tagger and, when a path is given, a language-model story."""
    lm: StoryModel | None = None
    if story_model:
        from waifugan.cards.story_lm import LMStoryWriter

        lm = LMStoryWriter(story_model, device=resolve_device(device))
    return CardWriter(tagger.tagger if tagger else None, lm, threshold)
