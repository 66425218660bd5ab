"""tagfd: the Fréchet distance in the bundled tagger's features, FID's second opinion."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import waifugan.metrics.registry as registry_module
from tests.tiny import tiny_G
from waifugan.cli import main
from waifugan.demo import builtin_dataset
from waifugan.errors import WaifuganError
from waifugan.metrics.registry import compute_metrics, register_metric
from waifugan.metrics.tagger_features import TaggerFeatures, default_tagger_path
from waifugan.networks.model_file import save_model
from waifugan.networks.tagger import Tagger, TaggerConfig, save_tagger

from .conftest import CountingExtractor, random_images, write_zip_dataset


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """The 600 built-in 64 px adventurer faces, uint8 [600, 64, 64, 3], in name order."""
    with zipfile.ZipFile(builtin_dataset()) as archive:
        names = sorted(n for n in archive.namelist() if n.endswith(".png"))
        return np.stack(
            [np.asarray(Image.open(io.BytesIO(archive.read(n))).convert("RGB")) for n in names]
        )


@pytest.fixture(scope="module")
def tagger_features() -> TaggerFeatures:
    return TaggerFeatures(device="cpu", batch_size=50)


def test_features_are_the_pooled_features_independent_of_batching(
    faces: np.ndarray, tagger_features: TaggerFeatures
) -> None:
    feats = tagger_features(faces[:40])
    assert feats.shape == (40, tagger_features.tagger.feature_dim) and feats.dtype == np.float32
    assert np.isfinite(feats).all() and feats.std(axis=0).max() > 0
    in_sevens = np.concatenate(
        [tagger_features(faces[i : min(i + 7, 40)]) for i in range(0, 40, 7)]
    )
    np.testing.assert_allclose(in_sevens, feats, rtol=1e-4, atol=1e-5)
    assert tagger_features.identity.startswith("tagger-")


def test_float_images_and_missing_taggers_are_refused(
    tmp_path: Path, tagger_features: TaggerFeatures
) -> None:
    with pytest.raises(WaifuganError, match="uint8"):
        tagger_features(np.zeros((2, 64, 64, 3), np.float32))
    with pytest.raises(WaifuganError, match="no-such.safetensors"):
        TaggerFeatures(tmp_path / "no-such.safetensors")


def _blurred(images: np.ndarray, radius: float) -> np.ndarray:
    blur = ImageFilter.GaussianBlur(radius)
    return np.stack([np.asarray(Image.fromarray(x).filter(blur)) for x in images])


def test_tagfd_ranks_real_blurred_and_noise_faces(
    tmp_path: Path, faces: np.ndarray, capsys: pytest.CaptureFixture[str]
) -> None:
    # Real vs real: 300 built-in faces against the other 300 (interleaved: the file is sorted
    # by tags) gives the floor; blurring the second half raises the distance, more blur raises
    # it more; noise is far away.
    a = write_zip_dataset(tmp_path / "a.zip", faces[0::2])
    sides = {
        "real": faces[1::2],
        "blur1": _blurred(faces[1::2], 1.0),
        "blur2": _blurred(faces[1::2], 2.0),
        "noise": random_images(300, 64, seed=0),
    }
    found = {}
    for name, images in sides.items():
        b = write_zip_dataset(tmp_path / f"{name}.zip", images)
        argv = ["metrics", "--data", str(a), "--data2", str(b), "--metrics", "tagfd300"]
        assert main([*argv, "--device", "cpu", "--cache-dir", str(tmp_path / "cache")]) == 0
        row = [line for line in capsys.readouterr().out.splitlines() if "| tagfd300 |" in line]
        found[name] = float(row[0].split("|")[2])
    assert 0 < found["real"] < found["blur1"] < found["blur2"] < found["noise"], found
    assert found["blur1"] > 5 * found["real"], found  # 147 vs 8.6 when written


def test_fid_and_tagfd_share_one_pass_over_the_generated_images(tmp_path: Path) -> None:
    # A dataset of G's own seeds 0..9: both distances are 0, and each extractor saw the 10
    # fakes once and the 10 reals once.
    G = tiny_G(16)
    own = write_zip_dataset(tmp_path / "own.zip", G.sample(list(range(10)), psi=1.0))
    inception, tagger = CountingExtractor(), CountingExtractor()
    tagger.identity = "counting-tagger"  # another space: statistics cached apart
    results = compute_metrics(
        ["fid10", "tagfd10"], G, own, "cpu", cache_dir=tmp_path, extractor=inception,
        tagger=tagger,
    )  # fmt: skip
    assert results == pytest.approx({"fid10": 0.0, "tagfd10": 0.0}, abs=1e-6)
    assert inception.num_images == 20 and tagger.num_images == 20


def test_only_the_spaces_asked_for_are_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_inception(*args: object, **kwargs: object) -> None:
        raise AssertionError("Inception loaded for tagfd alone")

    monkeypatch.setattr(registry_module, "InceptionFeatures", no_inception)
    G = tiny_G(16)
    data = write_zip_dataset(tmp_path / "noise.zip", random_images(8, 16, seed=1))
    results = compute_metrics(["tagfd8"], G, data, "cpu", cache_dir=tmp_path)
    assert results["tagfd8"] > 0


def test_cli_tagger_option_is_used_and_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = tmp_path / "00000-noise-tiny"
    run_dir.mkdir()
    (run_dir / "options.json").write_text("{}")
    model = save_model(tiny_G(16), run_dir / "model.safetensors")
    data = write_zip_dataset(tmp_path / "noise.zip", random_images(8, 16, seed=1))
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    own = save_tagger(Tagger(TaggerConfig(tags=("a", "b"), img_resolution=16)), tmp_path / "t.sft")
    base = ["metrics", str(model), "--data", str(data), "--metrics", "tagfd8", "--device", "cpu"]
    base += ["--cache-dir", str(tmp_path / "cache")]
    assert main([*base, "--tagger", str(own)]) == 0
    assert main(base) == 0  # the bundled tagger: another space, another value
    records = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["tagger"] for r in records] == [str(own), str(default_tagger_path())]
    assert records[0]["tagfd8"] != pytest.approx(records[1]["tagfd8"])
    assert main([*base, "--tagger", str(tmp_path / "missing.safetensors")]) == 2
    assert "missing.safetensors: no such tagger file" in capsys.readouterr().err


def test_a_metric_must_say_which_features_it_reads() -> None:
    with pytest.raises(ValueError, match="uses='features'"):
        register_metric("bad", "a metric reading an unknown space", uses="features")
