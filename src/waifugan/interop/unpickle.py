"""Reading other tools' pickles without executing anything from them.

A pickle names Python callables ("globals") and asks the loader to call them; that is how a
hostile file runs `os.system`. `SafeUnpickler.find_class` answers only from an explicit list:
inert constructors of NumPy arrays, tensors and containers, and stand-ins for the foreign
classes StyleGAN files contain (`dnnlib.tflib.network.Network`, `dnnlib.util.EasyDict`,
`torch_utils.persistence` objects, `argparse.Namespace`) that only keep the state they are
given. Nothing is imported from the file's world and no embedded source is executed; any
other global is refused with an error naming it.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import contextlib
import importlib
import io
import os
import pickle
import types
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from waifugan.errors import WaifuganError


class UnsafePickleError(WaifuganError):
    """The file asks for a callable that is not on the allowed list (nothing was run)."""


class TFNetwork:
    """Stand-in for `dnnlib.tflib.network.Network`: keeps the pickled state dict only.

    The state holds `version`, `name`, `static_kwargs`, `components` (sub-networks),
    `build_module_src` (never executed), `build_func_name` and `variables` [(name, ndarray)].
    """

    state: dict[str, Any]

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("dnnlib Network state is not a dict")
        self.state = state

    @property
    def components(self) -> dict[str, Any]:
        """Sub-networks by name ('mapping', 'synthesis')."""
        return dict(self.state.get("components") or {})

    def variables(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Variables of this network and its components, components as 'name/…' paths."""
        out = {prefix + str(k): np.asarray(v) for k, v in self.state.get("variables", [])}
        for name, comp in self.components.items():
            if isinstance(comp, TFNetwork):
                out.update(comp.variables(f"{prefix}{name}/"))
        return out


class EasyDict(dict):  # type: ignore[type-arg]
    """Stand-in for `dnnlib.util.EasyDict`: a plain dict (attribute access not needed)."""


class PersistentObject:
    """Stand-in for an NVlabs `torch_utils.persistence` object: its meta dict, not rebuilt.

    meta: `type`, `version`, `module_src` (never executed), `class_name`, `state` (the
    module's `__dict__`: `_parameters`, `_buffers`, `_modules`, `_init_kwargs`, ...).
    """

    def __init__(self, meta: Any) -> None:
        if not isinstance(meta, dict):
            raise pickle.UnpicklingError("persistent object meta is not a dict")
        self.meta = meta

    @property
    def class_name(self) -> str:
        """The NVlabs class this object was an instance of."""
        return str(self.meta.get("class_name", "?"))

    @property
    def state(self) -> dict[str, Any]:
        """The object's attribute dict."""
        state = self.meta.get("state")
        return state if isinstance(state, dict) else {}


class InertObject:
    """Stand-in for other foreign objects allowed by name (argparse.Namespace, torch.nn
    containers): keeps the attribute state and which class it claimed to be."""

    claimed_class = "?"

    def __setstate__(self, state: Any) -> None:
        self.__dict__["state"] = state

    @property
    def attributes(self) -> dict[str, Any]:
        """The pickled attribute dict (empty if the state was not a dict)."""
        state = self.__dict__.get("state")
        if isinstance(state, tuple) and state and isinstance(state[0], dict):
            state = state[0]  # (dict, slots) form
        return state if isinstance(state, dict) else {}


def _inert_class(module: str, name: str) -> type:
    return type(name, (InertObject,), {"claimed_class": f"{module}.{name}"})


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    return PersistentObject(meta)


def _load_storage_from_bytes(data: bytes) -> Any:
    """A tensor storage pickled inside a plain pickle (torch's own format for it), read with
    torch's weights-only loader: no code runs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TypedStorage deprecation: the format is as is
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        first_line = str(error).strip().splitlines()[0]
        raise UnsafePickleError(
            f"a tensor storage inside the file was refused by torch's weights-only loader "
            f"({first_line}; nothing from the file was executed)"
        ) from None


def _rebuild_tensor_v2(
    storage: Any,
    storage_offset: int,
    size: tuple[int, ...],
    stride: tuple[int, ...],
    requires_grad: bool = False,
    backward_hooks: Any = None,
    metadata: Any = None,
) -> torch.Tensor:
    """torch._utils._rebuild_tensor_v2 without hooks or metadata (a tensor view, nothing
    else)."""
    tensor = torch._utils._rebuild_tensor(storage, storage_offset, size, stride)
    return tensor.detach()


def _rebuild_parameter(data: Any, requires_grad: bool = False, *_: Any) -> torch.Tensor:
    """Parameters come back as plain tensors: importing needs values, not autograd state."""
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter data is not a tensor")
    return data.detach()


def _codecs_encode(text: str, encoding: str = "utf-8") -> bytes:
    """How protocol-2 pickles from Python 3 spell bytes: _codecs.encode(str, 'latin1')."""
    if codecs.lookup(encoding).name not in ("latin-1", "iso8859-1", "utf-8"):
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode(encoding)


def _numpy_core(name: str) -> Any:
    """numpy._core.<name> (NumPy 2) or numpy.core.<name> (NumPy 1); old pickles name either."""
    try:
        return importlib.import_module(f"numpy._core.{name}")
    except ImportError:  # pragma: no cover - NumPy 1.x
        return importlib.import_module(f"numpy.core.{name}")


_MULTIARRAY = _numpy_core("multiarray")
_NUMERIC = _numpy_core("numeric")

# (module, name) → the object find_class returns. Everything here is inert: it builds data
# from data and calls nothing the file chooses.
ALLOWED: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("_codecs", "encode"): _codecs_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,  # state dropped
    ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    # StyleGAN's own classes → stand-ins that keep state only.
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("argparse", "Namespace"): _inert_class("argparse", "Namespace"),
}
for _module in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED[(_module, "_reconstruct")] = _MULTIARRAY._reconstruct
    ALLOWED[(_module, "scalar")] = _MULTIARRAY.scalar
for _module in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED[(_module, "_frombuffer")] = _NUMERIC._frombuffer  # protocol-5 arrays


def _allowed_global(module: str, name: str) -> Any:
    found = ALLOWED.get((module, name))
    if found is not None:
        return found
    if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
        return getattr(torch, name)  # torch.float32 etc.: plain constants
    if module.startswith("torch.nn.modules.") and name[:1].isupper():
        return _inert_class(module, name)  # a non-persistent nn.Module: keep its state only
    return None


class SafeUnpickler(pickle.Unpickler):
    """pickle.Unpickler whose find_class only hands out ALLOWED callables and stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        # Python 2 names in protocol 0-2 pickles (__builtin__.set, copy_reg, ...), as the
        # base class maps them; a mapping only renames, it never allows anything new.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        found = _allowed_global(module, name)
        if found is None:
            raise UnsafePickleError(
                f"refusing to load: the file asks for {module}.{name}, which is not on "
                "waifugan's list of safe globals (nothing from the file was executed)"
            )
        return found


def _safe_load(f: BinaryIO, **kwargs: Any) -> Any:
    return SafeUnpickler(f, **kwargs).load()


# A module-shaped object for torch.load(pickle_module=...): torch reads the zip/legacy
# container and storages; every global inside goes through SafeUnpickler.find_class.
safe_pickle_module = types.ModuleType("waifugan_safe_pickle")
safe_pickle_module.Unpickler = SafeUnpickler  # type: ignore[attr-defined]
safe_pickle_module.load = _safe_load  # type: ignore[attr-defined]


def _damaged(path: Path, error: BaseException) -> WaifuganError:
    return WaifuganError(f"{path}: truncated or damaged file, cannot be read ({error})")


def load_pickle(path: str | os.PathLike[str]) -> Any:
    """A plain pickle's top object, through SafeUnpickler (UnsafePickleError if refused)."""
    path = Path(path)
    with _errors_named(path), open(path, "rb") as f:
        return SafeUnpickler(f, encoding="latin1").load()


@contextlib.contextmanager
def _errors_named(path: Path) -> Iterator[None]:
    """Every way reading `path` can fail, as a WaifuganError naming it."""
    try:
        yield
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{path}: {error}") from None
    except FileNotFoundError:
        raise WaifuganError(f"{path}: no such file") from None
    except WaifuganError:
        raise
    except Exception as error:  # nothing ran (SafeUnpickler), but damage surfaces as anything:
        raise _damaged(path, error) from error  # UnpicklingError, EOFError, torch's asserts, ...


def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """A torch.save file (zip or legacy) through SafeUnpickler: argparse.Namespace and other
    allowed foreign objects come back as stand-ins."""
    path = Path(path)
    with _errors_named(path), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # weights_only=False only because torch refuses a custom pickle_module otherwise;
        # safety comes from SafeUnpickler, which torch uses for every global.
        return torch.load(
            path, map_location="cpu", pickle_module=safe_pickle_module, weights_only=False
        )
