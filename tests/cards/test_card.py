"""Cards for faces: deterministic per (seed, ψ), tags consistent with the story, the tagger
found beside a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.tiny import tiny_G
from waifugan.cards.card import Card, CardWriter, tagger_beside
from waifugan.cards.lexicon import contradictions
from waifugan.networks.tagger import Tagger


def test_cards_are_deterministic_and_consistent(tagger: Tagger) -> None:
    G = tiny_G(16)
    writer = CardWriter(tagger, threshold=0.5)
    seeds = list(range(12))
    images = G.sample(seeds, psi=0.7)
    cards = writer.cards(seeds, 0.7, images)
    assert cards == writer.cards(seeds, 0.7, G.sample(seeds, psi=0.7))
    assert len({card.story for card in cards}) == len(seeds)
    assert any(card.tags for card in cards)
    for card in cards:
        names = [tag for tag, _ in card.tags]
        assert all(conf >= 0.5 for _, conf in card.tags)
        assert [c for _, c in card.tags] == sorted((c for _, c in card.tags), reverse=True)
        assert not {"long_hair", "short_hair"} <= set(names)  # one hair length per face
        assert contradictions(card.story, names) == []
        assert card.story.startswith(card.name)


def test_card_json_and_no_tagger() -> None:
    writer = CardWriter()
    image = np.zeros((1, 16, 16, 3), dtype=np.uint8)
    (card,) = writer.cards([5], 0.7, image)
    assert card.tags == () and contradictions(card.story, []) == []
    as_json = Card(5, 0.7, "A B", (("glasses", 0.91234),), "Story.").to_json()
    assert as_json == {
        "seed": 5,
        "psi": 0.7,
        "name": "A B",
        "tags": [{"tag": "glasses", "confidence": 0.912}],
        "story": "Story.",
    }


def test_tagger_beside_a_model_or_in_a_run_directory(tmp_path: Path) -> None:
    model = tmp_path / "waifu.safetensors"
    model.write_bytes(b"")
    assert tagger_beside(model) is None
    (tmp_path / "waifu.tagger.safetensors").write_bytes(b"")
    assert tagger_beside(model) == tmp_path / "waifu.tagger.safetensors"
    run = tmp_path / "00000-run"
    run.mkdir()
    assert tagger_beside(run) is None
    (run / "tagger.safetensors").write_bytes(b"")
    assert tagger_beside(run) == run / "tagger.safetensors"
