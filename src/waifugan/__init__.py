"""waifugan: anime illustrations in, a StyleGAN2 that draws new anime faces out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from waifugan.networks.generator import Generator


def load(model: Any = None, device: Any = "cpu") -> Generator:
    """Load a generator from a .safetensors model, a checkpoint or a run directory; with no
    argument, the bundled model (waifugan.bundled)."""
    from waifugan.bundled import bundled_model_path
    from waifugan.export import load_generator

    return load_generator(bundled_model_path() if model is None else model, device=device)


__all__ = ["__version__", "load"]
