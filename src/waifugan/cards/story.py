"""The default story: a Tracery grammar filled in from the card's tags, seeded by (seed, ψ).

Offline and weightless. The look sentence names every trait on the card (lexicon.py); every
other sentence is written so that it mentions no trait at all, except the one "flavour"
sentence, which is picked among the sentences of traits the card has. So the story never
asserts a trait the tags do not have, and a face tagged `glasses` is described with them.
"""

from __future__ import annotations

from collections.abc import Sequence

from waifugan.cards.grammar import expand
from waifugan.cards.lexicon import Trait, described_traits

MALE_TAGS = frozenset({"1boy", "male_focus"})
FEMALE_TAGS = frozenset({"1girl"})

# Sentences for a trait the card has; the symbols they, their, them are the pronouns.
FLAVOUR: dict[str, list[str]] = {
    "glasses": [
        "#they.capitalize# pushes #their# glasses up whenever #they# is about to be right.",
        "#their.capitalize# glasses are always slightly crooked, and #they# likes them that way.",
    ],
    "earrings": ["#their.capitalize# earrings were a gift from someone #they# will not name."],
    "freckles": ["#they.capitalize# stopped counting #their# freckles at the age of nine."],
    "mustache": ["#their.capitalize# mustache is groomed every morning with great ceremony."],
    "blush": ["#they.capitalize# blushes easily, which #they# finds deeply unfair."],
    "birthmark": ["Fortune tellers say #their# birthmark is a sign of great luck."],
    "long_hair": ["#they.capitalize# ties #their# long hair back before any real work."],
    "short_hair": ["#they.capitalize# cut #their# hair the day #they# left home."],
    "hat": ["#they.capitalize# never takes off #their# hat, not even indoors."],
    "smile": ["#their.capitalize# smile has ended more than one argument."],
    "hair_ribbon": ["The ribbon in #their# hair is older than it looks."],
    "ponytail": ["#their.capitalize# ponytail swings like a metronome when #they# walks."],
    "twintails": ["#they.capitalize# has worn twin tails since #they# was small."],
}

STORY_RULES: dict[str, list[str]] = {
    "origin": ["#intro# #look##flavour# #habit# #hook#"],
    "intro": ["#fullname# is #role# #place#."],
    "role": [
        "an apprentice alchemist", "a lighthouse keeper", "a travelling cartographer",
        "a street musician", "a librarian", "a courier", "a tea-house owner", "a knight-errant",
        "a shrine keeper", "a botanist", "a clockmaker", "an airship pilot", "a detective",
        "a baker", "a painter", "a stage magician", "a student of astronomy", "a swordsmith",
        "a ferry captain", "a translator", "a bookbinder", "a beekeeper", "a radio operator",
        "a puppeteer",
    ],
    "place": [
        "from a fishing village on the northern coast", "from the capital",
        "from a town in the mountains", "from a city that sleeps all day",
        "from an island with one road", "from a house at the end of a tram line",
        "from a valley famous for its orchards", "from somewhere no map agrees on",
        "from a port full of foreign ships", "from a quiet suburb",
    ],
    "look": ["#look_sentence# "],
    "habit": [
        "#they.capitalize# collects old maps of places that never existed.",
        "#they.capitalize# keeps a notebook of overheard conversations.",
        "#they.capitalize# cannot walk past a stray cat.",
        "#they.capitalize# bakes bread at midnight when sleep will not come.",
        "#they.capitalize# hums the same song all day without noticing.",
        "#they.capitalize# writes letters that #they# never sends.",
        "#they.capitalize# is always the first to arrive and the last to leave.",
        "#they.capitalize# names every plant #they# owns.",
        "#they.capitalize# knows the timetable of every train by heart.",
        "#they.capitalize# practises the violin badly but with great joy.",
    ],
    "hook": [
        "Tonight, #they# will finally open the letter #they# has carried for three years.",
        "Somewhere, someone is looking for #them#.",
        "#they.capitalize# is searching for #quest#.",
        "Nobody knows that #they# once #secret#.",
        "This summer, #they# has promised to find #quest#.",
    ],
    "quest": [
        "a lost sister", "the last page of a famous novel", "a door that appears only in rain",
        "the person who painted #them# a portrait", "a star that went missing", "a way home",
        "the owner of a forgotten umbrella",
    ],
    "secret": [
        "won a duel with a spoon", "lived for a month in a lighthouse",
        "saved a prince without noticing", "sang at a royal wedding",
        "outran a thunderstorm", "talked a dragon out of a bad decision",
    ],
}  # fmt: skip


def pronouns(tags: Sequence[str]) -> tuple[str, str, str]:
    """(they, their, them): "he" for Danbooru's 1boy / male_focus tags, else "she"."""
    present = set(tags)
    if present & MALE_TAGS and not present & FEMALE_TAGS:
        return "he", "his", "him"
    return "she", "her", "her"


def _join(phrases: Sequence[str]) -> str:
    if len(phrases) <= 1:
        return "".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]


def describe(traits: Sequence[Trait]) -> list[str]:
    """Phrases for traits, hair length and colour merged ("long red hair")."""
    hair = [t.phrase.removesuffix(" hair") for t in traits if t.group == "hair_length"]
    hair += [t.phrase.removesuffix(" hair") for t in traits if t.group == "hair_colour"]
    phrases = [" ".join(hair) + " hair"] if hair else []
    return phrases + [t.phrase for t in traits if t.group not in ("hair_length", "hair_colour")]


def look_sentences(name: str, tags: Sequence[str]) -> list[str]:
    """Sentences that describe every trait of the tags (empty when none is described)."""
    phrases = describe(described_traits(tags))
    if not phrases:
        return [""]
    traits = _join(phrases)
    return [
        f"{name} has {traits}.",
        f"With {traits}, {name} is easy to spot in any crowd.",
        f"{name} has {traits}, and does not mind being stared at.",
    ]


def story_rules(name: str, fullname: str, tags: Sequence[str]) -> dict[str, list[str]]:
    """The grammar of one card: STORY_RULES plus its name, pronouns, look and flavour."""
    they, their, them = pronouns(tags)
    flavour = [" " + s for t in described_traits(tags) for s in FLAVOUR.get(t.tag, [])]
    look = look_sentences(name, tags)
    return {
        **STORY_RULES,
        "look": ["#look_sentence#"] if look == [""] else ["#look_sentence# "],
        "look_sentence": look,
        "flavour": flavour or [""],
        "name": [name],
        "fullname": [fullname],
        "they": [they],
        "their": [their],
        "them": [them],
    }


def write_story(fullname: str, tags: Sequence[str], seed: int, psi: float) -> str:
    """A short paragraph about the character: a pure function of its arguments."""
    given = fullname.split()[0]
    text = expand(story_rules(given, fullname, tags), "#origin#", f"story:{seed}:{psi:.2f}")
    return " ".join(text.split())  # one space between sentences, whatever was left empty


def opening(fullname: str, tags: Sequence[str], seed: int, psi: float) -> str:
    """The first two sentences of the default story (who, and how they look), which a
    language model then continues."""
    given = fullname.split()[0]
    rules = story_rules(given, fullname, tags)
    text = expand(rules, "#intro# #look_sentence#", f"story:{seed}:{psi:.2f}")
    return " ".join(text.split())
