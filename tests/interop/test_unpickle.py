"""Hostile, truncated and foreign files are refused with a clear message, and nothing runs."""

from __future__ import annotations

import argparse
import io
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.interop.foreign import assert_no_foreign_modules, foreign_names
from waifugan.errors import WaifuganError
from waifugan.interop import import_model
from waifugan.interop.unpickle import (
    PersistentObject,
    SafeUnpickler,
    TFNetwork,
    UnsafePickleError,
    load_pickle,
    load_torch_file,
)


class _Reduce:
    """Pickles as `func(*args)`: the classic code-execution payload."""

    def __init__(self, func, *args) -> None:  # noqa: ANN001
        self.func, self.args = func, args

    def __reduce__(self):  # noqa: ANN204
        return self.func, self.args


def _touch_command(marker: Path) -> str:
    return f"touch {marker}"


def _hostile_payloads(marker: Path) -> dict[str, tuple[bytes, str]]:
    """name → (pickle bytes, the global the error must name)."""
    cmd = _touch_command(marker)
    return {
        "os.system via __reduce__": (pickle.dumps(_Reduce(os.system, cmd)), f"{os.name}.system"),
        "os.system by name": (f"cos\nsystem\n(S'{cmd}'\ntR.".encode(), "os.system"),
        "builtins.eval": (
            pickle.dumps(_Reduce(eval, f"__import__('os').system('{cmd}')")),
            "builtins.eval",
        ),
        "subprocess": (
            pickle.dumps(_Reduce(subprocess.check_call, ["touch", str(marker)])),
            "subprocess.check_call",
        ),
        "getattr chain": (
            b"cbuiltins\ngetattr\n(cnumpy\nlib\nS'format'\ntR.",
            "builtins.getattr",
        ),
        "unknown global": (b"cevilpkg.tools\nThing\n)R.", "evilpkg.tools.Thing"),
        "nested in an NVlabs dict": (
            pickle.dumps({"G_ema": {"state": [_Reduce(os.system, cmd)]}}),
            f"{os.name}.system",
        ),
    }


@pytest.mark.parametrize("name", list(_hostile_payloads(Path("/x"))))
def test_hostile_pickles_are_refused_naming_the_global_and_nothing_runs(tmp_path, name):
    marker = tmp_path / "EXECUTED"
    payload, global_name = _hostile_payloads(marker)[name]
    path = tmp_path / "network-snapshot.pkl"
    path.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=rf"{path}: .*{global_name}.*nothing"):
        import_model(path)
    assert not marker.exists()


def test_hostile_object_inside_a_torch_zip_is_refused(tmp_path):
    marker = tmp_path / "EXECUTED"
    path = tmp_path / "000100.pt"
    torch.save({"g_ema": {}, "args": _Reduce(os.system, _touch_command(marker))}, path)
    with pytest.raises(UnsafePickleError, match=f"{os.name}.system"):
        import_model(path)
    assert not marker.exists()


def test_hostile_storage_bytes_are_refused_by_the_weights_only_loader(tmp_path):
    """Tensor storages inside plain pickles are torch.load'ed: only with weights_only."""
    marker = tmp_path / "EXECUTED"
    evil = pickle.dumps(_Reduce(os.system, _touch_command(marker)), protocol=2)
    payload = b"\x80\x03ctorch.storage\n_load_from_bytes\nB" + len(evil).to_bytes(4, "little")
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(payload + evil + b"\x85R.")
    with pytest.raises(UnsafePickleError, match="storage"):
        load_pickle(path)
    assert not marker.exists()


class Network:
    """Pickled under dnnlib's name with foreign_names."""

    def __getstate__(self) -> dict:
        return {"version": 4, "variables": [("w", np.ones(2, np.float32))], "components": {}}


def test_foreign_classes_become_inert_stand_ins():
    with foreign_names({"dnnlib.tflib.network": {"Network": Network}}):
        data = pickle.dumps(Network(), protocol=4)
    assert b"dnnlib.tflib.network" in data
    net = SafeUnpickler(io.BytesIO(data)).load()
    assert isinstance(net, TFNetwork) and net.state["version"] == 4
    np.testing.assert_array_equal(net.variables()["w"], [1, 1])
    assert_no_foreign_modules()


def test_old_numpy_module_names_and_python2_names_are_understood():
    text = pickle.dumps({"a": np.arange(3, dtype=np.float32), "s": {1}}, protocol=2)
    text = text.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    result = SafeUnpickler(io.BytesIO(text)).load()
    np.testing.assert_array_equal(result["a"], [0, 1, 2])
    assert result["s"] == {1}


def test_argparse_namespace_in_a_torch_file_is_kept_as_data(tmp_path):
    path = tmp_path / "ckpt.pt"
    torch.save({"args": argparse.Namespace(size=256, latent=512), "w": torch.ones(2)}, path)
    data = load_torch_file(path)
    assert data["args"].attributes == {"size": 256, "latent": 512}
    assert not isinstance(data["args"], argparse.Namespace)
    assert torch.equal(data["w"], torch.ones(2))


def test_persistent_objects_keep_meta_without_running_module_src(tmp_path, stylegan2_files):
    data = load_pickle(stylegan2_files["nvlabs-pytorch"])
    G = data["G_ema"]
    assert isinstance(G, PersistentObject) and G.class_name == "Generator"
    assert "write_text" in G.meta["module_src"]  # it would have created the marker
    assert_no_foreign_modules()


@pytest.mark.parametrize("fmt", ["tf-stylegan2", "nvlabs-pytorch", "rosinality"])
def test_truncated_files_get_a_clear_error(tmp_path, stylegan2_files, fmt):
    data = stylegan2_files[fmt].read_bytes()
    path = tmp_path / stylegan2_files[fmt].name
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(WaifuganError, match=rf"{path}: truncated or damaged"):
        import_model(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "not a pickle or PyTorch file"),
        (b"\x1f\x8b\x08\x00" + bytes(32), "gzip"),
        (pickle.dumps([1, 2, 3]), "holds a list, not a known StyleGAN file"),
        (pickle.dumps({"weights": 1}), "not a known StyleGAN file"),
    ],
)
def test_files_that_are_no_stylegan_model_are_named_and_explained(tmp_path, content, message):
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    with pytest.raises(WaifuganError, match=message):
        import_model(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(WaifuganError, match="no such file"):
        import_model(tmp_path / "nope.pkl")
