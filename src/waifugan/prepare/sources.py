"""Input enumeration: folders (recursive), zip files, single images, in a stable order."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from waifugan.errors import WaifuganError

IMAGE_EXTS = frozenset({".png", ".jpg", ".jpeg", ".jfif", ".gif", ".webp", ".bmp", ".tif", ".tiff"})


@dataclass(frozen=True)
class Item:
    """One input image: a file, or a member of a zip file."""

    key: str  # unique and stable: the path, or "zip::member"
    path: str
    member: str | None = None
    meta: dict[str, Any] | None = field(default=None, compare=False)  # Danbooru fields

    @property
    def stem(self) -> str:
        """File name without folder and extension (the Danbooru id)."""
        return Path(self.member if self.member is not None else self.path).stem


@dataclass(frozen=True)
class Reject:
    """An input refused before decoding (e.g. a malformed metadata line, a missing file)."""

    key: str
    stage: str
    reason: str


def is_image_name(name: str) -> bool:
    """Whether a file name has an image extension."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTS


def _walk_folder(root: Path) -> Iterator[Item]:
    for folder, dirs, files in os.walk(root):
        dirs.sort()  # os.walk order is file-system dependent; sorted is reproducible
        for name in sorted(files):
            if is_image_name(name):
                path = os.path.join(folder, name)
                yield Item(key=path, path=path)


def _walk_zip(path: Path) -> Iterator[Item]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = sorted(
                info.filename
                for info in archive.infolist()
                if not info.is_dir() and is_image_name(info.filename)
            )
    except (zipfile.BadZipFile, OSError) as error:
        raise WaifuganError(f"{path}: cannot read zip file ({error})") from None
    for name in names:
        yield Item(key=f"{path}::{name}", path=str(path), member=name)


def check_sources(sources: tuple[str, ...]) -> None:
    """Raise WaifuganError for a source that does not exist or is not a folder/zip/image."""
    for src in sources:
        path = Path(src)
        if not path.exists():
            raise WaifuganError(f"{src}: no such file or folder")
        if path.is_file() and path.suffix.lower() != ".zip" and not is_image_name(src):
            raise WaifuganError(f"{src}: not a folder, a .zip or an image file")


def iter_sources(sources: tuple[str, ...]) -> Iterator[Item]:
    """Every image of every source, in order: sources as given, files sorted by path."""
    check_sources(sources)
    for src in sources:
        path = Path(src)
        if path.is_dir():
            yield from _walk_folder(path)
        elif path.suffix.lower() == ".zip":
            yield from _walk_zip(path)
        else:
            yield Item(key=str(path), path=str(path))


class ItemReader:
    """Reads an item's bytes, keeping zip files open between calls (one per process)."""

    def __init__(self) -> None:
        self._zips: dict[str, zipfile.ZipFile] = {}

    def read(self, item: Item) -> bytes:
        """The raw bytes of an input file (OSError / KeyError when unreadable)."""
        if item.member is None:
            with open(item.path, "rb") as f:
                return f.read()
        archive = self._zips.get(item.path)
        if archive is None:
            archive = self._zips[item.path] = zipfile.ZipFile(item.path)
        return archive.read(item.member)

    def close(self) -> None:
        """Close open zip files."""
        for archive in self._zips.values():
            archive.close()
        self._zips.clear()
