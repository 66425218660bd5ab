"""Import pretrained StyleGAN models from other tools' files, safely.

`import_model(path)` reads NVlabs stylegan2-ada-pytorch / stylegan3 (StyleGAN2 config)
pickles, TensorFlow StyleGAN2 and StyleGAN1 pickles and rosinality `.pt` checkpoints without
TensorFlow and without executing anything from the file (interop/unpickle.py), and returns
waifugan networks that every command accepts.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from waifugan.errors import WaifuganError
from waifugan.interop import nvlabs_pytorch, rosinality, tf_stylegan1, tf_stylegan2
from waifugan.interop.common import ImportedModel
from waifugan.interop.detect import FORMATS, read_foreign

# format name → convert(loaded data, source, what)
CONVERTERS: dict[str, Callable[[Any, str, str], ImportedModel]] = {
    nvlabs_pytorch.FORMAT: nvlabs_pytorch.convert,
    tf_stylegan2.FORMAT: tf_stylegan2.convert,
    tf_stylegan1.FORMAT: tf_stylegan1.convert,
    rosinality.FORMAT: rosinality.convert,
}

__all__ = ["FORMATS", "ImportedModel", "import_model"]

WHAT = ("G_ema", "G", "D")


def import_model(path: str | os.PathLike[str], what: str = "G_ema") -> ImportedModel:
    """Detect the format of `path`, read it safely and convert its networks.

    Args:
        path: the foreign file (.pkl or .pt).
        what: which network the caller wants besides G_ema: "G_ema", "G" (also convert the
            training generator) or "D" (also convert the discriminator); formats convert
            whatever else they hold cheaply.
    """
    if what not in WHAT:
        raise WaifuganError(f"--what must be one of {', '.join(WHAT)}, got {what!r}")
    source = str(Path(path))
    fmt, data = read_foreign(path)
    converter = CONVERTERS[fmt]
    model = converter(data, source, what)
    if what == "D" and model.D is None:
        raise WaifuganError(f"{source}: has no discriminator waifugan can import ({fmt})")
    return model
