"""Seeded expansion of Tracery grammars (Kate Compton's grammar language for generative text,
through the `tracery` package).

`tracery` picks rules with the module-level `random.choice`. To make a card a pure function
of its seed without touching the process-wide random state, the expansion swaps a private
`random.Random(seed)` into the tracery module for its duration, under a lock (so concurrent
server threads never share one).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping, Sequence

import tracery
from tracery.modifiers import base_english

_LOCK = threading.Lock()


def expand(rules: Mapping[str, Sequence[str] | str], origin: str, seed: str) -> str:
    """Expand `origin` with the grammar `rules`; the same seed string gives the same text.

    Raises ValueError when the grammar refers to a symbol it does not define (a bug in the
    grammar, never in user input).
    """
    grammar = tracery.Grammar({key: list(value) if isinstance(value, (list, tuple)) else value
                               for key, value in rules.items()})  # fmt: skip
    grammar.add_modifiers(base_english)
    with _LOCK:
        shared = tracery.random  # type: ignore[attr-defined]
        tracery.random = random.Random(seed)  # type: ignore[attr-defined]
        try:
            text = grammar.flatten(origin)
        finally:
            tracery.random = shared  # type: ignore[attr-defined]
    if "((" in text:  # tracery marks unknown symbols and modifiers as ((name))
        raise ValueError(f"grammar error in {origin!r}: {text}")
    return text
