"""A character's name from the face's seed alone, so a face keeps its name at every ψ.

Names are built from Japanese-sounding parts (the anime convention of the original site),
given name first; about 24 x 19 given names x 26 x 14 family names ≈ 166,000 combinations.
"""

from __future__ import annotations

from waifugan.cards.grammar import expand

NAME_RULES: dict[str, list[str]] = {
    "origin": ["#given# #family#"],
    "given": ["#root##ending#"],
    "root": [
        "Ai", "Aya", "Chi", "Emi", "Fumi", "Hana", "Haru", "Hina", "Kae", "Kana", "Kiyo",
        "Mai", "Mana", "Mio", "Nana", "Nao", "Rin", "Sae", "Saki", "Sora", "Tomo", "Yui",
        "Yuki", "Asu",
    ],
    "ending": [
        "ko", "ka", "mi", "na", "ne", "ri", "e", "yo", "ho", "no", "sa", "ra", "ki", "ya",
        "", "", "", "", "",
    ],
    "family": ["#family_head##family_tail#"],
    "family_head": [
        "Aki", "Asa", "Fuji", "Hana", "Hoshi", "Ishi", "Kawa", "Kiri", "Kuro", "Matsu",
        "Mori", "Naka", "Nishi", "Oda", "Sakura", "Shira", "Suzu", "Taka", "Tsuki", "Yama",
        "Yuki", "Ume", "Kaze", "Mizu", "Sora", "Tachi",
    ],
    "family_tail": [
        "moto", "mura", "kawa", "saki", "hara", "no", "da", "zawa", "mori", "shima", "oka",
        "ta", "gawa", "yama",
    ],
}  # fmt: skip


def character_name(seed: int) -> str:
    """The name of the face with this seed ("Given Family")."""
    return expand(NAME_RULES, "#origin#", f"name:{seed}")
