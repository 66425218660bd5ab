"""The optional story from a local causal language model (`--story-model PATH`).

PATH is a folder in the Hugging Face layout (config.json, model.safetensors, tokenizer files),
e.g. a GPT-2-style model the user has; it is loaded with the `transformers` library (`pip
install 'waifugan[story]'`), from local files only and from safetensors only, with no remote
code: loading never executes code from the folder and never downloads anything.

The model continues the grammar's opening (who the character is and how they look). Its text
is sampled with a seed derived from (seed, ψ), so a card stays deterministic, and it is
checked against the tags: a continuation that mentions a trait the card does not have is
redrawn (up to `attempts` times), after which the grammar's own story is used.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from waifugan.cards.lexicon import contradictions
from waifugan.cards.story import opening, write_story
from waifugan.errors import WaifuganError

_UNPRINTABLE = re.compile(r"[^\w\s.,;:!?'\"()\-]", re.UNICODE)


def _sample_seed(seed: int, psi: float, attempt: int) -> int:
    digest = hashlib.sha256(f"lm:{seed}:{psi:.2f}:{attempt}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def tidy(text: str) -> str:
    """Model output as one clean paragraph: printable characters, single spaces, cut after
    the last full sentence when there is one."""
    text = " ".join(_UNPRINTABLE.sub("", text).split())
    end = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
    if text[-1:] in ".!?":
        return text
    return text[: end + 1] if end > 0 else text


class LMStoryWriter:
    """Stories continued by a local causal LM; thread-safe (one generation at a time)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: Any = "cpu",
        max_new_tokens: int = 80,
        attempts: int = 3,
    ) -> None:
        try:
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise WaifuganError(
                "--story-model needs the transformers package: pip install 'waifugan[story]'"
            ) from None
        self.path = Path(path)
        if not (self.path / "config.json").is_file():
            raise WaifuganError(
                f"{self.path}: not a language model folder (no config.json; expected the "
                "Hugging Face layout with model.safetensors and tokenizer files)"
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
            self.model = AutoModelForCausalLM.from_pretrained(
                self.path, local_files_only=True, use_safetensors=True, trust_remote_code=False
            )
        except (OSError, ValueError, KeyError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise WaifuganError(
                f"{self.path}: cannot load the language model ({message})"
            ) from None
        self.model = self.model.eval().requires_grad_(False).to(device)
        self.max_new_tokens = max_new_tokens
        self.attempts = attempts
        self._lock = threading.Lock()

    def continuation(self, prompt: str, sample_seed: int) -> str:
        """The model's sampled continuation of prompt (without the prompt)."""
        import torch

        inputs = self.tokenizer(prompt, return_tensors="pt").to(self.model.device)
        pad = self.tokenizer.pad_token_id or self.tokenizer.eos_token_id
        with self._lock, torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(sample_seed)  # inside fork_rng: the global RNG is restored after
            out = self.model.generate(
                **inputs, do_sample=True, top_k=40, top_p=0.95, temperature=0.9,
                max_new_tokens=self.max_new_tokens, pad_token_id=pad,
            )  # fmt: skip
        new_tokens = out[0][inputs["input_ids"].shape[1] :]
        return str(self.tokenizer.decode(new_tokens, skip_special_tokens=True))

    def write(self, fullname: str, tags: Sequence[str], seed: int, psi: float) -> str:
        """The grammar's opening continued by the model, never contradicting tags; the
        grammar's whole story when every attempt mentions a trait the card lacks."""
        start = opening(fullname, tags, seed, psi)
        for attempt in range(self.attempts):
            text = tidy(self.continuation(start + " ", _sample_seed(seed, psi, attempt)))
            if text and not contradictions(text, tags):
                return f"{start} {text}"
        return write_story(fullname, tags, seed, psi)
