"""--story-model: a tiny randomly initialised GPT-2-style model built here, saved to tmp, and
loaded back the way a user's model is (local files, safetensors, no remote code)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from waifugan.cards.lexicon import contradictions
from waifugan.cards.story import opening
from waifugan.errors import WaifuganError

transformers = pytest.importorskip(
    "transformers", reason="transformers is not installed (pip install 'waifugan[story]')"
)
tokenizers = pytest.importorskip("tokenizers", reason="tokenizers comes with transformers")

CORPUS = [
    "She is a baker from the capital. She has long red hair and glasses.",
    "He keeps a notebook of maps. The rain came down over the harbour.",
    "A quiet town, a train at midnight, a letter never sent.",
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer GPT-2 with a 300-token byte-level BPE trained on three sentences."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    folder = tmp_path_factory.mktemp("tiny-lm")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=["<unk>", "<eos>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>"
    )
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        vocab_size=len(fast), n_positions=256, n_embd=32, n_layer=1, n_head=2,
        bos_token_id=1, eos_token_id=1,
    )  # fmt: skip
    transformers.GPT2LMHeadModel(cfg).save_pretrained(folder, safe_serialization=True)
    return folder


def test_lm_story_is_deterministic_consistent_and_leaves_rng_alone(tiny_lm: Path) -> None:
    from waifugan.cards.story_lm import LMStoryWriter

    writer = LMStoryWriter(tiny_lm, max_new_tokens=30)
    tags = ["long_hair", "red_hair", "glasses"]
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    story = writer.write("Aiko Mori", tags, 3, 0.7)
    assert torch.equal(torch.rand(1), expected)  # sampling did not move the global RNG
    assert story == writer.write("Aiko Mori", tags, 3, 0.7)
    assert story.startswith(opening("Aiko Mori", tags, 3, 0.7))
    assert "glasses" in story and contradictions(story, tags) == []
    stories = {writer.write("Aiko Mori", tags, seed, 0.7) for seed in range(4)}
    assert len(stories) == 4


def test_contradicting_continuations_are_redrawn_then_replaced(tiny_lm: Path) -> None:
    from waifugan.cards.story import write_story
    from waifugan.cards.story_lm import LMStoryWriter

    writer = LMStoryWriter(tiny_lm, max_new_tokens=10, attempts=2)
    calls: list[int] = []

    def always_blonde(prompt: str, sample_seed: int) -> str:
        calls.append(sample_seed)
        return "She also has blonde hair."

    writer.continuation = always_blonde  # type: ignore[method-assign]
    story = writer.write("Aiko Mori", ["short_hair"], 9, 0.7)
    assert len(calls) == 2 and len(set(calls)) == 2  # two different draws
    assert story == write_story("Aiko Mori", ["short_hair"], 9, 0.7)


def test_bad_model_folders_are_refused(tmp_path: Path, tiny_lm: Path) -> None:
    from waifugan.cards.story_lm import LMStoryWriter, tidy

    with pytest.raises(WaifuganError, match="no config.json"):
        LMStoryWriter(tmp_path)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (pickled / name).write_bytes((tiny_lm / name).read_bytes())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded: pickles are refused")
    with pytest.raises(WaifuganError, match="cannot load the language model"):
        LMStoryWriter(pickled)
    assert tidy("Hello \x00world. And th") == "Hello world."
