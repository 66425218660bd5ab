"""`waifugan metrics`: a model in a run directory, real vs real, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import waifugan.metrics.registry as registry_module
from tests.tiny import tiny_G
from waifugan.cli import main
from waifugan.networks.model_file import save_model
from waifugan.train.rundir import append_jsonl, run_dir_of

from .conftest import CountingExtractor, random_images, write_zip_dataset


@pytest.fixture
def run_model(tmp_path: Path) -> Path:
    """A tiny 16 px model saved inside a run directory (a folder with options.json)."""
    run_dir = tmp_path / "00000-noise-tiny"
    run_dir.mkdir()
    (run_dir / "options.json").write_text("{}")
    return save_model(tiny_G(16), run_dir / "model.safetensors")


@pytest.fixture
def cheap_features(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replace Inception by the counting extractor where the evaluation builds it."""

    def make(device: object, batch_size: int = 64) -> CountingExtractor:
        return CountingExtractor(batch_size)

    monkeypatch.setattr(registry_module, "InceptionFeatures", make)


def test_model_in_run_dir_with_inception_appends_metrics_jsonl(
    tmp_path: Path, run_model: Path, assets_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("waifugan.prepare.faces", reason="face detector (prepare) not present")
    data = write_zip_dataset(tmp_path / "noise.zip", random_images(8, 16, seed=0))
    argv = ["metrics", str(run_model), "--data", str(data), "--metrics", "kid8,facerate8"]
    argv += ["--device", "cpu", "--batch", "8", "--cache-dir", str(tmp_path / "cache")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| kid8_mean |" in out and "| facerate8_real |" in out
    lines = (run_model.parent / "metrics.jsonl").read_text().splitlines()
    record = json.loads(lines[-1])
    assert record["psi"] == 1.0 and record["model"] == str(run_model)
    assert {"kid8_mean", "kid8_std", "facerate8", "facerate8_real"} <= set(record)
    assert record["kid8_mean"] > 0  # noise vs a (tiny, untrained) generator


def test_real_vs_real(tmp_path: Path, cheap_features: None, capsys: pytest.CaptureFixture[str]):
    a = write_zip_dataset(tmp_path / "a.zip", random_images(10, 16, seed=0))
    b = write_zip_dataset(tmp_path / "b.zip", random_images(10, 32, seed=1) // 2)  # darker
    argv = ["metrics", "--data", str(a), "--data2", str(b), "--metrics", "fid,kid"]
    argv += ["--num", "10", "--device", "cpu", "--cache-dir", str(tmp_path)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| fid10 |" in out and "| kid10_mean |" in out
    assert not list(tmp_path.glob("*.jsonl"))


def test_plain_model_file_is_not_logged(
    tmp_path: Path, cheap_features: None, capsys: pytest.CaptureFixture[str]
) -> None:
    model = save_model(tiny_G(16), tmp_path / "loose.safetensors")
    data = write_zip_dataset(tmp_path / "d.zip", random_images(6, 16, seed=0))
    argv = ["metrics", str(model), "--data", str(data), "--metrics", "fid6", "--device", "cpu"]
    assert main([*argv, "--cache-dir", str(tmp_path)]) == 0
    assert "appended" not in capsys.readouterr().out
    assert run_dir_of(model) is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--metrics", "fod2k"], "unknown metric 'fod2k'"),
        (["--data2", "b.zip"], "not both"),
    ],
)
def test_refusals_exit_2_with_a_message(
    tmp_path: Path,
    run_model: Path,
    extra: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = write_zip_dataset(tmp_path / "d.zip", random_images(4, 16, seed=0))
    assert main(["metrics", str(run_model), "--data", str(data), *extra]) == 2
    assert message in capsys.readouterr().err


def test_both_model_and_data2_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    # With neither, MODEL is the bundled model (tests/test_bundled.py).
    argv = ["metrics", "m.safetensors", "--data", str(tmp_path), "--data2", str(tmp_path)]
    assert main(argv) == 2
    assert "MODEL or --data2" in capsys.readouterr().err


def test_append_metrics_jsonl_appends_lines(tmp_path: Path) -> None:
    path = tmp_path / "run" / "metrics.jsonl"
    append_jsonl(path, {"kimg": 1, "results": {"fid2k": 12.5}})
    append_jsonl(path, {"kimg": 2, "results": {"fid2k": 11.0}})
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["kimg"] for r in records] == [1, 2]
