"""A character card for a face: seed, ψ, a name, the tags a tagger sees (with confidences)
and a short story. A card is a pure function of (face pixels, seed, ψ, tagger, story model),
so the same seed and ψ always give the same card.

A model file can carry its tagger beside it: `MODEL.tagger.safetensors` next to
`MODEL.safetensors` (or `tagger.safetensors` inside a run directory) is found by
`tagger_beside` and used by `waifugan serve` and `waifugan tag` when no --tagger is given.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from waifugan.cards.lexicon import consistent_tags
from waifugan.cards.names import character_name
from waifugan.cards.story import write_story
from waifugan.networks.model_file import tagger_path
from waifugan.networks.tagger import Tagger

DEFAULT_THRESHOLD = 0.5  # a tag is on the card when the tagger is at least this sure


class StoryModel(Protocol):
    """Anything that writes a story for a card (cards.story_lm.LMStoryWriter)."""

    def write(self, fullname: str, tags: Sequence[str], seed: int, psi: float) -> str:
        """The story of the character."""
        ...


@dataclass(frozen=True)
class Card:
    """Everything shown under a face."""

    seed: int
    psi: float
    name: str
    tags: tuple[tuple[str, float], ...]  # (tag, confidence), most confident first
    story: str

    def to_json(self) -> dict[str, Any]:
        """The /api/card answer."""
        return {
            "seed": self.seed,
            "psi": round(self.psi, 2),
            "name": self.name,
            "tags": [{"tag": tag, "confidence": round(conf, 3)} for tag, conf in self.tags],
            "story": self.story,
        }


def tagger_beside(model: str | os.PathLike[str]) -> Path | None:
    """The tagger a model carries: MODEL.tagger.safetensors beside a model file, or
    tagger.safetensors inside a run directory; None when there is none."""
    path = Path(model)
    candidate = path / "tagger.safetensors" if path.is_dir() else tagger_path(path)
    return candidate if candidate.is_file() else None


class CardWriter:
    """Cards for faces, from an optional tagger and an optional story model.

    Without a tagger a card still has a name and a story, but no tags (and so the story
    describes no trait); without a story model the Tracery grammar writes the story.
    """

    def __init__(
        self,
        tagger: Tagger | None = None,
        story_model: StoryModel | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.tagger = tagger
        self.story_model = story_model
        self.threshold = threshold

    def tags(self, images: np.ndarray) -> list[list[tuple[str, float]]]:
        """Card tags of uint8 [N, H, W, 3] faces: confident ones, one per exclusive group."""
        if self.tagger is None:
            return [[] for _ in images]
        probs = self.tagger.predict(images)
        names = self.tagger.tags
        return [
            consistent_tags(
                (names[j], float(p[j])) for j in range(len(names)) if p[j] >= self.threshold
            )
            for p in probs
        ]

    def card(self, seed: int, psi: float, tags: Sequence[tuple[str, float]]) -> Card:
        """The card of the face with this seed and ψ, given its tags."""
        name = character_name(seed)
        tag_names = [tag for tag, _ in tags]
        if self.story_model is not None:
            story = self.story_model.write(name, tag_names, seed, psi)
        else:
            story = write_story(name, tag_names, seed, psi)
        return Card(seed, psi, name, tuple(tags), story)

    def cards(self, seeds: Sequence[int], psi: float, images: np.ndarray) -> list[Card]:
        """Cards for faces (uint8 [N, H, W, 3]) drawn from seeds at ψ."""
        return [
            self.card(seed, psi, tags) for seed, tags in zip(seeds, self.tags(images), strict=True)
        ]
