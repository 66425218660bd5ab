"""Every file waifugan loads, fuzzed: a clear error naming the file, never a traceback or code.

Each loader gets a valid file and Hypothesis-mutated copies of it (bit flips, truncations,
spliced and overwritten bytes; derandomized): the loader must succeed or raise WaifuganError
whose message names the file. Then hand-written hostile variants: valid containers holding
the wrong structure (JSON of the wrong shape, tensors of the wrong type, options of the wrong
type) and files that try to run code when loaded (a marker file must never appear).
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import waifugan
from tests.reliability.helpers import figure
from tests.tiny import tiny_G
from tests.train.conftest import run_train, tiny_flags, write_blob_zip
from waifugan.cards.labels import image_ids, read_tag_sets
from waifugan.data.dataset import ImageDataset
from waifugan.errors import WaifuganError
from waifugan.interop import import_model
from waifugan.metrics.stats import real_stats
from waifugan.networks.model_file import save_model
from waifugan.networks.tagger import Tagger, TaggerConfig, load_tagger, save_tagger
from waifugan.prepare.metadata import Selection, iter_metadata
from waifugan.train.checkpoint import load_checkpoint

CASES_PER_KIND = 300
FUZZ = settings(
    derandomize=True, database=None, deadline=None, max_examples=CASES_PER_KIND,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.function_scoped_fixture],
)  # fmt: skip


class _Features:
    """A stand-in feature extractor (Inception would take minutes): mean colours."""

    identity, batch_size = "mean-colour-v1", 16

    def __call__(self, images: np.ndarray) -> np.ndarray:
        pixels = images.reshape(len(images), -1, 3).astype(np.float32)
        return np.concatenate([pixels.mean(1), pixels.std(1)], axis=1)


def _dataset_zip(path: Path) -> Path:
    write_blob_zip(path, count=8)
    with zipfile.ZipFile(path, "a") as zf:  # what prepare writes beside the images
        rows = [{"name": f"00000/img{i:08d}.png", "danbooru_id": 100 + i} for i in range(8)]
        zf.writestr("manifest.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid file of every kind waifugan loads."""
    root = tmp_path_factory.mktemp("valid")
    data = _dataset_zip(root / "data.zip")
    run_dir = run_train(tiny_flags(data, root / "runs", kimg=0.008))
    metadata = root / "metadata.jsonl"
    metadata.write_text("".join(
        json.dumps({"id": 100 + i, "tags": [{"name": "smile", "category": 0}], "rating": "s",
                    "score": 3}) + "\n" for i in range(8)))  # fmt: skip
    tagger = Tagger(TaggerConfig(tags=("smile", "red_hair"), img_resolution=16, channel_max=16))
    return {
        "checkpoint": run_dir / "checkpoint-000000.pt",
        "model": save_model(tiny_G(), root / "model.safetensors"),
        "tagger": save_tagger(tagger, root / "tagger.safetensors"),
        "dataset": data,
        "metadata": metadata,
    }


def _load_dataset(path: Path) -> Any:
    dataset = ImageDataset(path)
    ids = image_ids(dataset)  # manifest.jsonl
    return [dataset[i] for i in range(len(dataset))], ids


def _load_stats(path: Path, data: Path) -> Any:
    return real_stats(data, _Features(), cache_dir=path.parent)


LOADERS: dict[str, Callable[[Path], Any]] = {
    "checkpoint": load_checkpoint,
    "model": waifugan.load,
    "tagger": load_tagger,
    "dataset": _load_dataset,
    "metadata": lambda p: (list(iter_metadata((str(p),), Selection())), read_tag_sets([str(p)])),
    "foreign": import_model,
}


def _expect_clear(load: Callable[[Path], Any], path: Path) -> str:
    """Load; returns "loaded" or "refused" (WaifuganError naming the file); anything else
    fails the test."""
    try:
        load(path)
    except WaifuganError as error:
        assert path.name in str(error), f"the message does not name the file: {error}"
        return "refused"
    return "loaded"


@st.composite
def _mutation(draw, size: int) -> tuple[str, list[tuple[int, int, bytes]]]:
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "overwrite"]))
    if kind == "flip":
        edits = [(at, at + 1, b"") for at in draw(st.lists(st.integers(0, size * 8 - 1),
                                                            min_size=1, max_size=8))]  # fmt: skip
    elif kind == "truncate":
        edits = [(draw(st.integers(0, size - 1)), size, b"")]
    else:
        start = draw(st.integers(0, size - 1))
        length = 0 if kind == "splice" else draw(st.integers(1, 64))
        edits = [(start, start + length, draw(st.binary(min_size=1, max_size=64)))]
    return kind, edits


def _apply(data: bytes, kind: str, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for start, end, new in edits:
        if kind == "flip":
            out[start // 8] ^= 1 << (start % 8)
        else:
            out[start:end] = new
    return bytes(out)


def _fuzz_bytes(kind: str, load: Callable[[Path], Any], seed: bytes, folder: Path, name: str):
    outcomes: Counter[str] = Counter()

    @settings(FUZZ)
    @given(_mutation(len(seed)))
    def check(mutation: tuple[str, list[tuple[int, int, bytes]]]) -> None:
        path = folder / name
        path.write_bytes(_apply(seed, *mutation))
        outcomes[_expect_clear(load, path)] += 1

    check()
    assert sum(outcomes.values()) >= CASES_PER_KIND * 0.9
    figure(f"load-fuzz-{kind}", cases=sum(outcomes.values()), **outcomes)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["checkpoint", "model", "tagger", "dataset", "metadata"])
def test_mutated_files_load_or_are_refused_naming_the_file(files, kind, tmp_path):
    seed = files[kind].read_bytes()
    _fuzz_bytes(kind, LOADERS[kind], seed, tmp_path, "fuzzed" + files[kind].suffix)


@pytest.mark.slow
def test_mutated_foreign_pickles_never_run_code(tmp_path):
    from tests.interop.nvlabs_builder import write_nvlabs
    from tests.interop.tf_builders import write_stylegan2

    marker = tmp_path / "EXECUTED"
    nets = write_stylegan2(tmp_path / "tf2.pkl", marker, resolution=8)
    seed = write_nvlabs(tmp_path / "nvlabs.pkl", nets, marker, 8).read_bytes()
    _fuzz_bytes("foreign", import_model, seed, tmp_path, "fuzzed.pkl")
    assert not marker.exists()


@pytest.mark.slow
def test_corrupt_cached_statistics_are_recomputed(files, tmp_path):
    data = files["dataset"]
    reference = real_stats(data, _Features(), cache_dir=tmp_path)
    (cache,) = tmp_path.glob("real-*.npz")
    seed = cache.read_bytes()

    def load(path: Path) -> None:
        stats = _load_stats(path, data)
        np.testing.assert_allclose(stats.mean, reference.mean)  # rebuilt, or still intact

    _fuzz_bytes("stats", load, seed, tmp_path, cache.name)


# -- valid containers, wrong content ---------------------------------------------------------


def _zip_with(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


@pytest.mark.parametrize(
    "dataset_json",
    [b"[]", b"null", b'{"labels": 5}', b'{"labels": [[1]]}', b'{"labels": "x"}', b"\xff\xfe",
     b'{"labels": [["a", 1, 2]]}', b"{" * 100_000, b"[" * 100_000],
)  # fmt: skip
def test_dataset_json_of_the_wrong_shape(files, tmp_path, dataset_json):
    with zipfile.ZipFile(files["dataset"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "dataset.json"}
    path = _zip_with(tmp_path / "data.zip", {**members, "dataset.json": dataset_json})
    assert _expect_clear(_load_dataset, path) in ("loaded", "refused")


@pytest.mark.parametrize(
    "manifest",
    [b"[1, 2]\n", b'{"name": 5, "danbooru_id": {}}\n', b'{"name": "x", "source": 7}\n',
     b"\x00" * 64, b'{"name": "00000/img00000000.png", "danbooru_id": [1]}\n'],
)  # fmt: skip
def test_manifest_of_the_wrong_shape(files, tmp_path, manifest):
    with zipfile.ZipFile(files["dataset"]) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if n != "manifest.jsonl"}
    path = _zip_with(tmp_path / "data.zip", {**members, "manifest.jsonl": manifest})
    assert _expect_clear(_load_dataset, path) == "loaded"


@pytest.mark.parametrize(
    "line",
    ['{"id": 1, "tags": 5}', '{"id": 1, "tags": [{"category": 0}]}', '{"id": {}, "score": "x"}',
     '{"id": 1, "tag_string": 7, "score": 1e400}', "[]", '"id"', '{"id": null}'],
)  # fmt: skip
def test_metadata_lines_of_the_wrong_shape(tmp_path, line):
    path = tmp_path / "meta.jsonl"
    path.write_text(line + "\n" + json.dumps({"id": 5, "tag_string": "smile"}) + "\n")
    entries = list(iter_metadata((str(path),), Selection()))
    assert entries[-1] == {"id": "5", "tags": ["smile"], "rating": "", "score": None,
                           "file_ext": "", "md5": None}  # fmt: skip
    assert read_tag_sets([str(path)])["5"] == {"smile"}


@pytest.mark.parametrize(
    "metadata",
    [{}, {"format": "waifugan-generator", "config": "[" * 100_000},
     {"format": "waifugan-generator", "config": "5"},
     {"format": "waifugan-generator", "config": '{"img_resolution": "big"}'},
     {"format": "waifugan-generator", "config": '{"architecture": ["x"]}'},
     {"format": "waifugan-generator", "config": '{"no_such_option": 1}'}],
)  # fmt: skip
def test_a_model_file_with_the_wrong_metadata_is_refused(files, tmp_path, metadata):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "model.safetensors"
    save_file(load_file(str(files["model"])), str(path), metadata=metadata)
    assert _expect_clear(waifugan.load, path) == "refused"
    assert _expect_clear(load_tagger, path) == "refused"


def _hostile_state(files: dict[str, Path], **changes: Any) -> dict[str, Any]:
    state = load_checkpoint(files["checkpoint"])
    state.update(changes)
    return state


@pytest.mark.parametrize(
    "change",
    [
        {"options": "cpu32"},
        {"options": {"batch": "eight"}},
        {"options": {"kimg": [1]}},
        {"cur_nimg": "many"},
        {"G_opt": {"state": 5}},
        {"D": {"b16.conv0.weight": "x"}},
        {"G": [1, 2]},
    ],
    ids=lambda change: next(iter(change)),
)
def test_a_checkpoint_holding_the_wrong_structure_is_refused_on_resume(files, tmp_path, change):
    path = tmp_path / "checkpoint-000000.pt"
    state = _hostile_state(files, **change)
    if isinstance(change.get("options"), dict):
        state["options"] = {**load_checkpoint(files["checkpoint"])["options"], **change["options"]}
    torch.save(state, path)
    flags = {"outdir": str(tmp_path), "data": str(files["dataset"]), "kimg": 0.016}
    with pytest.raises(WaifuganError, match="checkpoint-000000.pt"):
        run_train(flags, resume=str(path))


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what a malicious file does: call something on load
        return (Path.write_text, (self.marker, "executed"))


@pytest.mark.parametrize("kind", ["checkpoint", "foreign", "stats"])
def test_files_that_would_run_code_are_refused(files, tmp_path, kind):
    marker = tmp_path / "EXECUTED"
    if kind == "checkpoint":
        path = tmp_path / "checkpoint-000001.pt"
        torch.save({**load_checkpoint(files["checkpoint"]), "extra": _RunsCode(marker)}, path)
        load: Callable[[Path], Any] = load_checkpoint
    elif kind == "foreign":
        path = tmp_path / "network-snapshot.pkl"
        path.write_bytes(pickle.dumps({"G_ema": _RunsCode(marker)}))
        load = import_model
    else:
        real_stats(files["dataset"], _Features(), cache_dir=tmp_path)
        (path,) = tmp_path.glob("real-*.npz")
        buf = io.BytesIO()
        np.savez(buf, features=np.array([_RunsCode(marker)], dtype=object), mean=0, cov=0)
        path.write_bytes(buf.getvalue())

        def load(p: Path) -> Any:
            return _load_stats(p, files["dataset"])

    assert _expect_clear(load, path) in ("refused", "loaded")
    assert not marker.exists()
