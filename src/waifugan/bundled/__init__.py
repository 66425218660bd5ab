"""The model in the box: a 64 px face model trained by waifugan itself, with its files.

`adventurer64.safetensors` (G_ema), `adventurer64.D.safetensors` (its discriminator, so
`train --init` fine-tunes both), `adventurer64.tagger.safetensors` (the tagger behind the
character cards) and `adventurer64.md` (its model card: data and licence credit, the exact
command, kimg, wall time, hardware, FID). Commands that take a MODEL use it when none is given;
`waifugan.load()` returns it. Trained on the DiceBear "adventurer" faces, design by Lisa
Wischofsky, CC BY 4.0 — credit it wherever the model or its images are shown.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

BUNDLED_NAME = "adventurer64"
CREDIT = '"Adventurer" design by Lisa Wischofsky (DiceBear), CC BY 4.0'


def bundled_model_path() -> Path:
    """The bundled generator's .safetensors file (its D and tagger lie beside it)."""
    return Path(str(resources.files("waifugan.bundled") / f"{BUNDLED_NAME}.safetensors"))


def bundled_card_path() -> Path:
    """The bundled model's card (Markdown)."""
    return bundled_model_path().with_suffix(".md")
