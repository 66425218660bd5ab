"""Import pretrained StyleGAN models from other tools' files, safely.

`import_model(path)` reads NVlabs stylegan2-ada-pytorch / stylegan3 (StyleGAN2 config)
pickles, TensorFlow StyleGAN2 and StyleGAN1 pickles and rosinality `.pt` checkpoints without
TensorFlow and without executing anything from the file (interop/unpickle.py), and returns
waifugan networks that every command accepts.
"""

from __future__ import annotations

import os
from pathlib import Path

from waifugan.errors import WaifuganError
from waifugan.interop.common import ImportedModel
from waifugan.interop.detect import FORMATS, read_foreign

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
    if fmt == "tf-stylegan1":
        from waifugan.interop import tf_stylegan1 as converter
    elif fmt == "tf-stylegan2":
        from waifugan.interop import tf_stylegan2 as converter  # type: ignore[no-redef]
    elif fmt == "nvlabs-pytorch":
        from waifugan.interop import nvlabs_pytorch as converter  # type: ignore[no-redef]
    else:
        from waifugan.interop import rosinality as converter  # type: ignore[no-redef]
    model = converter.convert(data, source, what)
    if what == "D" and model.D is None:
        raise WaifuganError(f"{source}: has no discriminator waifugan can import ({fmt})")
    return model
