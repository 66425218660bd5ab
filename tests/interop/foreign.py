"""Writing pickles that name other tools' classes (dnnlib, torch_utils) without having them.

`pickle` records a class by `__module__` + `__qualname__` and checks the name resolves, so
while a file is written the named modules exist as empty stand-ins in sys.modules; they are
removed right after, so the importer under test can never find them.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def foreign_names(names: dict[str, dict[str, Any]]) -> Iterator[None]:
    """Register objects under foreign module paths, e.g. {"dnnlib.util": {"EasyDict": cls}}."""
    added = []
    try:
        for module_name, attrs in names.items():
            parts = module_name.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name not in sys.modules:
                    sys.modules[name] = types.ModuleType(name)
                    added.append(name)
            for attr, obj in attrs.items():
                obj.__module__ = module_name
                obj.__qualname__ = attr
                setattr(sys.modules[module_name], attr, obj)
        yield
    finally:
        for name in reversed(added):
            del sys.modules[name]


class EasyDict(dict):
    """Pickles as dnnlib.util.EasyDict (a dict subclass, as the real one)."""


def dump(obj: Any, path: Path, names: dict[str, dict[str, Any]], protocol: int = 4) -> Path:
    """pickle.dump under foreign_names; returns path."""
    with foreign_names(names), open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)
    return path


def assert_no_foreign_modules() -> None:
    """The importer must not have imported (or created) any of the tools' packages."""
    for name in ("dnnlib", "dnnlib.tflib", "torch_utils", "torch_utils.persistence", "training"):
        assert name not in sys.modules, f"{name} was imported"
