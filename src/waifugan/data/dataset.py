"""Read a training dataset: a zip or folder of same-size square RGB images + dataset.json.

This is the layout NVlabs' stylegan2-ada-pytorch `dataset_tool.py` writes (any sub-folders,
e.g. `00000/img00000000.png`, plus `dataset.json` with `{"labels": null | [[path, label]]}`),
so datasets move between the tools unchanged.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch.utils.data
from PIL import Image

from waifugan.errors import DatasetError
from waifugan.pixels import is_valid_resolution

IMAGE_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp"}
# What reading a damaged zip member can raise: CRC and header errors, corrupt deflate data,
# an unknown compression method, encryption, a short read.
_READ_ERRORS = (OSError, EOFError, zipfile.BadZipFile, zlib.error, NotImplementedError,
                RuntimeError, ValueError, KeyError)  # fmt: skip


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any mode to RGB; transparency is composited on white rather than dropped."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        return Image.fromarray((array / 257.0).round().clip(0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


class ImageDataset(torch.utils.data.Dataset[np.ndarray]):
    """Images of a zip or folder as uint8 [3, H, W] arrays; `mirror` appends x-flipped copies."""

    def __init__(self, path: str | os.PathLike[str], mirror: bool = False) -> None:
        super().__init__()
        self.source = Path(path)
        self.mirror = mirror
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        if self.source.is_dir():
            self._is_zip = False
            names = [
                p.relative_to(self.source).as_posix() for p in self.source.rglob("*") if p.is_file()
            ]
        elif zipfile.is_zipfile(self.source):
            self._is_zip = True
            try:
                infos = self._open_zip().infolist()
            except _READ_ERRORS as error:
                raise DatasetError(f"{self.source}: damaged zip file ({error})") from error
            names = [info.filename for info in infos if not info.is_dir()]
        elif self.source.exists():
            raise DatasetError(f"{self.source}: not a zip file or a folder of images")
        else:
            raise DatasetError(f"{self.source}: no such file or folder")
        self.names = sorted(n for n in names if Path(n).suffix.lower() in IMAGE_EXTENSIONS)
        if not self.names:
            raise DatasetError(f"{self.source}: contains no PNG, JPEG or WebP images")
        self.resolution = self._check_sizes()
        self.labels = self._read_labels("dataset.json" in names)

    def _open_zip(self) -> zipfile.ZipFile:
        # One handle per process: DataLoader workers fork/spawn and must not share file offsets.
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.source)
            self._zip_pid = os.getpid()
        return self._zip

    def _read_bytes(self, name: str) -> bytes:
        try:
            if self._is_zip:
                return self._open_zip().read(name)
            return (self.source / name).read_bytes()
        except _READ_ERRORS as error:
            raise DatasetError(f"{self.source}/{name}: cannot be read ({error})") from error

    def _open_image(self, name: str) -> Image.Image:
        data = self._read_bytes(name)
        try:
            return Image.open(io.BytesIO(data))
        except Exception as error:  # Pillow's parsers raise more than OSError on bad bytes
            raise DatasetError(f"{self.source}/{name}: unreadable image ({error})") from error

    def _check_sizes(self) -> int:
        """Read every header (cheap: no pixel decode); name the first file that is off."""
        first_size: tuple[int, int] | None = None
        for name in self.names:
            size = self._open_image(name).size
            if size[0] != size[1]:
                raise DatasetError(f"{self.source}/{name}: not square ({size[0]}x{size[1]})")
            if not is_valid_resolution(size[0]):
                raise DatasetError(
                    f"{self.source}/{name}: side {size[0]} is not a power of two; "
                    "resize the dataset (waifugan prepare --resolution)"
                )
            if first_size is None:
                first_size = size
            elif size != first_size:
                raise DatasetError(
                    f"{self.source}/{name}: {size[0]}x{size[1]} differs from the "
                    f"{first_size[0]}x{first_size[1]} of {self.names[0]}; all images must "
                    "have one size"
                )
        assert first_size is not None
        return first_size[0]

    def _read_labels(self, has_json: bool) -> dict[str, Any] | None:
        if not has_json:
            return None
        try:
            meta = json.loads(self._read_bytes("dataset.json"))
        except (ValueError, RecursionError) as error:  # RecursionError: nested too deep
            raise DatasetError(f"{self.source}/dataset.json: not valid JSON ({error})") from error
        labels = meta.get("labels") if isinstance(meta, dict) else None
        if labels is None:
            return None
        pairs = isinstance(labels, list) and all(
            isinstance(pair, list) and len(pair) == 2 for pair in labels
        )
        if not pairs:
            raise DatasetError(
                f'{self.source}/dataset.json: "labels" must be null or a list of '
                "[file name, label] pairs"
            )
        return {str(name): label for name, label in labels}

    def __len__(self) -> int:
        return len(self.names) * (2 if self.mirror else 1)

    def __getitem__(self, index: int) -> np.ndarray:  # uint8 [3, H, W]
        flip = index >= len(self.names)
        name = self.names[index - len(self.names) if flip else index]
        image = self._open_image(name)
        try:
            array = np.asarray(to_rgb(image))
        except Exception as error:  # truncated data, a bad chunk, a decoder's IndexError, ...
            raise DatasetError(f"{self.source}/{name}: corrupt image data ({error})") from error
        if array.shape[:2] != (self.resolution, self.resolution):
            raise DatasetError(
                f"{self.source}/{name}: size changed to {array.shape[1]}x{array.shape[0]}"
            )
        if flip:
            array = array[:, ::-1]
        return np.ascontiguousarray(array.transpose(2, 0, 1))

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_zip"] = None  # reopened lazily in each worker process
        return state

    @property
    def name(self) -> str:
        """Short name for run directories: the file or folder name without suffix."""
        return self.source.stem if self._is_zip else self.source.name
