"""End to end: a messy folder, resume, determinism, the dataset reader, the CLI."""

from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from tests.prepare.fixtures import art, build_messy, png_bytes
from waifugan.cli import main
from waifugan.data.dataset import ImageDataset
from waifugan.errors import WaifuganError
from waifugan.prepare import distributor
from waifugan.prepare.config import PrepareConfig
from waifugan.prepare.pipeline import prepare, resolve_upscaler
from waifugan.prepare.process import TorchNotAllowedError, Worker
from waifugan.prepare.sources import Item, iter_sources
from waifugan.prepare.writer import Writer


def _cfg(src: Path, out: Path, **kw: Any) -> PrepareConfig:
    base: dict[str, Any] = dict(
        detect=False, resolution=64, upscale="lanczos", workers=1, progress=False
    )
    base.update(kw)
    return PrepareConfig(sources=(str(src),), output=str(out), **base)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("messy")
    return folder, build_messy(folder)


def test_messy_folder(tmp_path: Path, messy: tuple[Path, dict[str, str]], assets_dir: Path) -> None:
    folder, expected = messy
    result = prepare(_cfg(folder, tmp_path / "ds.zip", workers=2))
    report = json.loads((result.report_dir / "report.json").read_text())
    reasons = {Path(r["source"]).name: r["reason"] for r in report["rejects"]}
    with zipfile.ZipFile(result.output) as archive:
        manifest = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
    kept = {Path(row["source"]).name for row in manifest}
    for name, outcome in expected.items():
        if outcome == "ok":
            assert name in kept, (name, reasons.get(name))  # nothing valid is lost
        else:
            assert reasons.get(name, "").startswith(outcome), (name, reasons.get(name))
    ok = sum(v == "ok" for v in expected.values())
    assert result.images == ok == len(manifest)
    assert report["inputs"] == len(expected) == ok + report["rejected"]
    for row in report["stages"]:  # counts add up, stage by stage
        assert row["in"] == row["out"] + row["rejected"], row
    assert (result.report_dir / "contact-sheet.png").exists()
    assert (result.report_dir / "rejects.png").exists()
    assert "decompression bomb" in (result.report_dir / "summary.txt").read_text()


def test_output_is_nvlabs_layout_and_read_by_dataset(tmp_path: Path, assets_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(5):
        (src / f"{i}.png").write_bytes(png_bytes(art(100 + i, size=80)))
    result = prepare(_cfg(src, tmp_path / "ds.zip", augment=1))
    with zipfile.ZipFile(result.output) as archive:
        infos = archive.infolist()
        assert json.loads(archive.read("dataset.json")) == {"labels": None}
    images = [i for i in infos if i.filename.endswith(".png")]
    assert [i.filename for i in images][:2] == ["00000/img00000000.png", "00000/img00000001.png"]
    assert all(i.compress_type == zipfile.ZIP_STORED for i in images)
    image_bytes = sum(i.file_size for i in images)
    assert result.output.stat().st_size <= 1.05 * image_bytes + 4096  # + manifest, directory
    ds = ImageDataset(result.output)
    assert len(ds) == 10 and ds.resolution == 64
    assert ds[0].shape == (3, 64, 64)
    folder = prepare(_cfg(src, tmp_path / "folder_ds", augment=1))
    assert len(ImageDataset(folder.output)) == 10
    with zipfile.ZipFile(result.output) as archive:  # same files either way
        for name in ("manifest.jsonl", "dataset.json", "00000/img00000009.png"):
            assert (folder.output / name).read_bytes() == archive.read(name)
    assert not list(tmp_path.glob("*.partial"))


def test_resume_gives_identical_dataset(
    tmp_path: Path, messy: tuple[Path, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = messy
    reference = prepare(_cfg(folder, tmp_path / "a" / "ds.zip", workers=2))
    real_add = Writer.add
    calls = {"n": 0}

    def crash_after_seven(self: Writer, *args: Any) -> Any:
        if calls["n"] == 7:
            raise KeyboardInterrupt
        calls["n"] += 1
        return real_add(self, *args)

    monkeypatch.setattr(Writer, "add", crash_after_seven)
    out = tmp_path / "b" / "ds.zip"
    with pytest.raises(KeyboardInterrupt):
        prepare(_cfg(folder, out, workers=2))
    assert not out.exists()  # no complete-looking dataset after a crash
    partial = out.with_name("ds.zip.partial")
    assert len((partial / "journal.jsonl").read_text().splitlines()) == 7
    with open(partial / "journal.jsonl", "a") as f:
        f.write('{"key": "torn')  # a torn last line
    with open(partial / "samples.bin", "ab") as f:
        f.write(b"unjournaled bytes")
    with open(partial / "thumbs.bin", "ab") as f:
        f.write(b"unjournaled thumbnail")
    monkeypatch.setattr(Writer, "add", real_add)
    resumed = prepare(_cfg(folder, out, workers=1))
    assert out.read_bytes() == reference.output.read_bytes()
    assert not partial.exists()
    assert resumed.images == reference.images


def test_resume_with_other_options_is_refused(tmp_path: Path, assets_dir: Path) -> None:
    out = tmp_path / "ds.zip"
    out.with_name("ds.zip.partial").mkdir()
    out.with_name("ds.zip.partial").joinpath("options.json").write_text("{}")
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.png").write_bytes(png_bytes(art(1)))
    with pytest.raises(WaifuganError, match="different options"):
        prepare(_cfg(src, out))
    assert prepare(_cfg(src, out, overwrite=True)).images == 1  # --overwrite starts over


def test_cli_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], assets_dir: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "blank.png").write_bytes(png_bytes(art(1)[:1].repeat(96, axis=0) * 0))
    out = tmp_path / "ds.zip"
    common = ["--no-detect", "--upscale", "lanczos", "--no-progress", "--workers", "1"]
    assert main(["prepare", str(src), "-o", str(out), *common]) == 2
    assert "nothing usable" in capsys.readouterr().err and not out.exists()
    assert main(["prepare", str(src), "-o", str(out), "--resolution", "100", *common]) == 2
    assert "power of two" in capsys.readouterr().err
    assert main(["prepare", str(tmp_path / "missing"), "-o", str(out), *common]) == 2
    (src / "good.png").write_bytes(png_bytes(art(2)))
    assert main(["prepare", str(src), "-o", str(out), "--resolution", "64", *common]) == 0
    assert "1 images from 2 inputs" in capsys.readouterr().out


def test_faces_end_to_end_with_waifu2x(tmp_path: Path, shared_dir: Path, assets_dir: Path) -> None:
    sprites = shared_dir / "data" / "renpy-demo"
    cfg = PrepareConfig(
        sources=(str(sprites / "lucy-happy.png"), str(sprites / "eileen-happy.png")),
        output=str(tmp_path / "faces.zip"), resolution=256, workers=1, progress=False,
        margin=0.2,
    )  # fmt: skip
    result = prepare(cfg)
    ds = ImageDataset(result.output)
    assert len(ds) == 2 and ds.resolution == 256
    with zipfile.ZipFile(result.output) as archive:
        rows = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
    # lucy's 163 px face → 196 px crop: doubled by waifu2x; eileen's 223 px → 268 px: not
    assert [r["upscale"] for r in rows] == ["waifu2x x2", "none"]
    assert all(len(r["box"]) == 4 and r["crop"][2] >= max(r["box"][2:]) for r in rows)


class _SlowStartPool:
    """Stands in for the process pool: its first submit blocks like a starting fork server,
    then it runs batches in this process."""

    def __init__(self, cfg: PrepareConfig, delay_s: float) -> None:
        self.worker = Worker(cfg)
        self.delay_s = delay_s
        self.submitted: list[list[str]] = []

    def submit(self, fn: Any, batch: list[Any]) -> Future[list[Any]]:
        if not self.submitted:
            time.sleep(self.delay_s)
        self.submitted.append([entry.key for entry in batch])
        future: Future[list[Any]] = Future()
        future.set_result([self.worker.process(entry) for entry in batch])
        return future


def _items(folder: Path, count: int, side: int) -> list[Item]:
    for i in range(count):
        (folder / f"{i:03d}.png").write_bytes(png_bytes(art(i, size=side)))
    return [entry for entry in iter_sources((str(folder),)) if isinstance(entry, Item)]


def test_parent_works_while_the_pool_starts_and_keeps_order(tmp_path: Path) -> None:
    items = _items(tmp_path, 24, 64)
    cfg = _cfg(tmp_path, tmp_path / "ds.zip", resolution=32)
    pool = _SlowStartPool(cfg, delay_s=1.0)
    batches = iter([items[i : i + 2] for i in range(0, 24, 2)])
    pending = distributor._start(pool, batches, 2, Worker(cfg, load_torch=False))  # type: ignore[arg-type]
    pending.extend(pool.submit(None, batch) for batch in batches)
    keys = [result.key for future in pending for result in future.result()]
    assert keys == [item.key for item in items]  # input order, whoever did the work
    done_here = 12 - len(pool.submitted)
    assert 1 <= done_here <= distributor.STARTUP_BATCHES_MAX
    assert pool.submitted[0] == [items[0].key, items[1].key]


def test_helper_hands_waifu2x_work_to_the_pool(tmp_path: Path) -> None:
    items = _items(tmp_path, 8, 16)  # below the 32 px output: needs upscaling
    cfg = _cfg(tmp_path, tmp_path / "ds.zip", resolution=32, upscale="waifu2x", min_size=8)
    with pytest.raises(TorchNotAllowedError):
        Worker(cfg, load_torch=False).process(items[0])
    lanczos = _cfg(tmp_path, tmp_path / "ds.zip", resolution=32, min_size=8)  # pool stand-in
    pool = _SlowStartPool(lanczos, delay_s=0.3)
    batches = iter([items[i : i + 2] for i in range(0, 8, 2)])
    pending = distributor._start(pool, batches, 1, Worker(cfg, load_torch=False))  # type: ignore[arg-type]
    assert len(pool.submitted) == 2 and len(pending) == 2  # first batch, then the handed-over one
    assert [r.key for f in pending for r in f.result()] == [i.key for i in items[:4]]


def test_auto_upscaler_falls_back_to_lanczos_without_waifu2x_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Offline and without the asset, `--upscale auto` (the default) still prepares, says so,
    and enlarges small crops with Lanczos; an explicit `--upscale waifu2x` still refuses."""
    import urllib.request

    def offline(*args: object, **kw: object) -> None:
        raise OSError("network unreachable")

    monkeypatch.setenv("WAIFUGAN_ASSETS", str(tmp_path / "no-assets"))
    monkeypatch.setenv("WAIFUGAN_CACHE", str(tmp_path / "no-cache"))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    src = tmp_path / "src"
    src.mkdir()
    _items(src, 3, 64)  # downscaled
    (src / "small.png").write_bytes(png_bytes(art(7, size=24)))  # enlarged: below 32 px
    cfg = _cfg(src, tmp_path / "ds.zip", resolution=32, min_size=8, upscale="auto")
    result = prepare(cfg)
    assert result.images == 4
    warning = capsys.readouterr().err
    assert "waifu2x unavailable" in warning and "Lanczos instead" in warning
    with zipfile.ZipFile(result.output) as archive:
        rows = [json.loads(line) for line in archive.read("manifest.jsonl").splitlines()]
    assert {row["upscale"] for row in rows} == {"lanczos"}
    with pytest.raises(WaifuganError, match="download"):
        prepare(dataclasses.replace(cfg, output=str(tmp_path / "w.zip"), upscale="waifu2x"))


def test_auto_upscaler_picks_waifu2x_when_its_weights_are_there(assets_dir: Path) -> None:
    cfg = PrepareConfig(sources=("x",), output="y.zip", upscale="auto")
    assert resolve_upscaler(cfg).upscale == "waifu2x"
    assert resolve_upscaler(dataclasses.replace(cfg, upscale="none")).upscale == "none"
