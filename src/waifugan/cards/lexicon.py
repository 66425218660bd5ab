"""What each known tag looks like in words, and the check that a text never contradicts tags.

A `Trait` is a Danbooru tag the story may describe: the phrase that describes it and a
regular expression that recognises any mention of it. The rule the stories keep is simple
and checkable: a text may mention a trait only if its tag is on the card, and the default
story mentions every trait on the card. Tags not listed here are shown on the card but never
narrated, so an unknown tag cannot be contradicted either.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Trait:
    """A tag the story can describe."""

    tag: str
    group: str  # traits of one exclusive group never share a card (see EXCLUSIVE_GROUPS)
    phrase: str  # how the description names it ("glasses", "a mustache")
    pattern: str  # a regex matching any mention of it (case-insensitive)


def _colour_hair(colour: str, *words: str) -> Trait:
    names = "|".join((colour, *words))
    # "red hair", "long red hair", "red-haired": the colour within one word of "hair"
    pattern = rf"\b(?:{names})\b[ -](?:[a-z]+[ -])?hair"
    return Trait(f"{colour}_hair", "hair_colour", f"{colour} hair", pattern)


def _length_hair(length: str) -> Trait:
    pattern = rf"\b{length}\b[ -](?:[a-z]+[ -])?hair"
    return Trait(f"{length}_hair", "hair_length", f"{length} hair", pattern)


def _colour_eyes(colour: str) -> Trait:
    return Trait(f"{colour}_eyes", "eye_colour", f"{colour} eyes", rf"\b{colour}\b[ -]eye")


_HAIR_COLOURS = ("black", "brown", "red", "orange", "green", "purple", "pink", "white")
_EYE_COLOURS = ("blue", "red", "green", "brown", "purple", "yellow", "black", "aqua")

TRAITS: tuple[Trait, ...] = (
    *(_colour_hair(c) for c in _HAIR_COLOURS),
    _colour_hair("blonde", "blond", "golden"),
    _colour_hair("aqua", "teal", "turquoise"),
    _colour_hair("grey", "gray", "silver"),
    _colour_hair("blue", "azure"),
    *(_length_hair(n) for n in ("long", "short")),
    *(_colour_eyes(c) for c in _EYE_COLOURS),
    Trait("glasses", "glasses", "glasses", r"\b(?:glasses|spectacles|eyeglasses)\b"),
    Trait("earrings", "earrings", "earrings", r"\bear-?rings?\b"),
    Trait("hat", "hat", "a hat", r"\bhats?\b"),
    Trait("hair_ribbon", "hair_ribbon", "a ribbon in the hair", r"\bribbons?\b"),
    Trait("hair_ornament", "hair_ornament", "a hair ornament", r"\bhair ornaments?\b"),
    Trait("ponytail", "ponytail", "a ponytail", r"\bpony-?tails?\b"),
    Trait("twintails", "twintails", "twin tails", r"\btwin-? ?tails?\b"),
    Trait("freckles", "freckles", "freckles", r"\bfreckle"),
    Trait("mustache", "mustache", "a mustache", r"\bmoustache|\bmustache"),
    Trait("birthmark", "birthmark", "a birthmark", r"\bbirth-?marks?\b"),
    Trait("blush", "blush", "a faint blush", r"\bblush"),
    Trait("smile", "smile", "a ready smile", r"\bsmil(?:e|es|ed|ing)\b"),
)
BY_TAG: dict[str, Trait] = {trait.tag: trait for trait in TRAITS}
EXCLUSIVE_GROUPS = frozenset({"hair_colour", "hair_length", "eye_colour"})
_COMPILED = {trait.tag: re.compile(trait.pattern, re.IGNORECASE) for trait in TRAITS}


def consistent_tags(tags: Iterable[tuple[str, float]]) -> list[tuple[str, float]]:
    """Tags sorted by confidence, keeping only the most confident of each exclusive group
    (a face has one hair colour); tags outside the lexicon pass through."""
    kept: list[tuple[str, float]] = []
    seen_groups: set[str] = set()
    for tag, confidence in sorted(tags, key=lambda item: (-item[1], item[0])):
        trait = BY_TAG.get(tag)
        if trait is not None and trait.group in EXCLUSIVE_GROUPS:
            if trait.group in seen_groups:
                continue
            seen_groups.add(trait.group)
        kept.append((tag, confidence))
    return kept


def mentioned_traits(text: str) -> set[str]:
    """Tags of every trait the text mentions."""
    return {tag for tag, regex in _COMPILED.items() if regex.search(text)}


def contradictions(text: str, tags: Collection[str]) -> list[str]:
    """Traits the text mentions whose tag is not in `tags` (empty: consistent)."""
    return sorted(mentioned_traits(text) - set(tags))


def described_traits(tags: Iterable[str]) -> list[Trait]:
    """The traits of these tags that a story describes, in lexicon order."""
    present = set(tags)
    return [trait for trait in TRAITS if trait.tag in present]
