"""`waifugan import` end to end: model files that round-trip and that every command accepts."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from PIL import Image
from safetensors import safe_open

import waifugan
from tests.interop import numpy_reference as ref
from waifugan.cli import main
from waifugan.interop import import_model
from waifugan.networks.sampling import seeds_to_z
from waifugan.networks.stylegan1 import StyleGAN1Generator
from waifugan.train.checkpoint import load_checkpoint


def _png(path) -> np.ndarray:  # noqa: ANN001
    return np.asarray(Image.open(path).convert("RGB"))


def test_print_only_reports_the_file_and_writes_nothing(tf1_file, tmp_path, capsys):
    path, _ = tf1_file
    assert main(["import", str(path), "--print-only"]) == 0
    out = capsys.readouterr().out
    expected = [
        "tf-stylegan1 (stylegan1)",
        "resolution    16 px",
        "z / w dims    8 / 8",
        "mapping       2 layers",
        "4:16, 8:16, 16:8",
        "ψ 0.7 on the first 8 ws",
    ]
    for text in expected:
        assert text in out
    assert not list(tmp_path.iterdir())


def test_import_needs_an_output_unless_print_only(tf1_file, capsys):
    assert main(["import", str(tf1_file[0])]) == 2
    assert "--output" in capsys.readouterr().err


def test_nvlabs_model_round_trips_export_load_same_pixels(stylegan2_files, tf2_nets, tmp_path):
    out = tmp_path / "model.safetensors"
    assert main(["import", str(stylegan2_files["nvlabs-pytorch"]), "-o", str(out)]) == 0
    imported = import_model(stylegan2_files["nvlabs-pytorch"]).G_ema
    G = waifugan.load(out)
    seeds = [0, 5, 9]
    np.testing.assert_array_equal(G.sample(seeds, psi=0.7), imported.sample(seeds, psi=0.7))
    want = ref.sg2_images(tf2_nets["Gs"], seeds_to_z(seeds, 8).double().numpy(), 0.7)
    assert np.abs(G.sample(seeds, psi=0.7).astype(int) - want.astype(int)).max() <= 2
    with safe_open(str(out), framework="pt") as f:
        extra = json.loads(f.metadata()["extra"])
    assert extra["source_format"] == "nvlabs-pytorch" and extra["source_psi"] == 1.0


def test_stylegan1_model_works_with_every_generator_command(tf1_file, tmp_path):
    path, variables = tf1_file
    model = tmp_path / "anime.safetensors"
    assert main(["import", str(path), "-o", str(model)]) == 0
    G = waifugan.load(model)
    assert isinstance(G, StyleGAN1Generator) and G.cfg.truncation_cutoff == 8
    # generate: the PNG holds the TF reference's pixels for that seed
    assert main(["generate", str(model), "--seeds", "3,4", "--psi", "0.7", "--outdir",
                 str(tmp_path / "gen")]) == 0  # fmt: skip
    want = ref.sg1_images(variables, seeds_to_z([3, 4], 8).double().numpy(), 0.7, cutoff=8)
    got = np.stack([_png(tmp_path / "gen" / f"seed{s:04d}.png") for s in (3, 4)])
    assert np.abs(got.astype(int) - want.astype(int)).max() <= 2
    assert main(["mix", str(model), "--rows", "1-2", "--cols", "3-4", "-o",
                 str(tmp_path / "mix.png")]) == 0  # fmt: skip
    assert _png(tmp_path / "mix.png").shape == (48, 48, 3)
    assert main(["interpolate", str(model), "--seeds", "1,2", "--frames-per-seed", "2",
                 "-o", str(tmp_path / "walk.gif")]) == 0  # fmt: skip
    assert (tmp_path / "walk.gif").stat().st_size > 0
    Image.fromarray(want[0]).save(tmp_path / "target.png")
    assert main(["project", str(model), str(tmp_path / "target.png"), "--steps", "3",
                 "-o", str(tmp_path / "proj")]) == 0  # fmt: skip
    assert (tmp_path / "proj" / "projected_w.npz").exists()


def test_stylegan1_model_serves_faces_with_its_default_cutoff(tf1_file, tmp_path):
    from tests.serve.serve_helpers import running_server
    from waifugan.serve.config import ServeConfig

    model = tmp_path / "anime.safetensors"
    import_model(tf1_file[0]).G_ema.save_pretrained(model)
    G = waifugan.load(model)
    with (
        running_server(G, ServeConfig(cache_size=0)) as (url, _),
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        reply = client.get("/api/face", params={"seed": 11, "psi": 0.6})
    assert reply.status_code == 200
    face = np.asarray(Image.open(__import__("io").BytesIO(reply.content)).convert("RGB"))
    np.testing.assert_array_equal(face, G.sample([11], psi=0.6)[0])


def test_rosinality_and_tf2_files_import_through_the_cli(stylegan2_files, tmp_path):
    for fmt in ("rosinality", "tf-stylegan2"):
        out = tmp_path / f"{fmt}.safetensors"
        assert main(["import", str(stylegan2_files[fmt]), "-o", str(out)]) == 0
        assert waifugan.load(out).sample([1]).shape == (1, 16, 16, 3)


def test_what_d_writes_the_discriminator_with_its_config(stylegan2_files, tmp_path):
    out = tmp_path / "D.safetensors"
    assert main(["import", str(stylegan2_files["nvlabs-pytorch"]), "--what", "D", "-o",
                 str(out)]) == 0  # fmt: skip
    with safe_open(str(out), framework="pt") as f:
        meta = f.metadata()
        assert meta["format"] == "waifugan-discriminator"
        assert json.loads(meta["config"])["img_resolution"] == 16
        assert "b16.fromrgb.weight" in set(f.keys())


def test_checkpoint_from_nvlabs_holds_G_G_ema_D_and_loads(stylegan2_files, tmp_path):
    out = tmp_path / "imported.pt"
    assert main(["import", str(stylegan2_files["nvlabs-pytorch"]), "--checkpoint", "-o",
                 str(out)]) == 0  # fmt: skip
    state = load_checkpoint(out)
    model = import_model(stylegan2_files["nvlabs-pytorch"], what="D")
    for name in ("G", "G_ema", "D"):
        expected = getattr(model, name).state_dict()
        assert state[name].keys() == expected.keys()
        for key, tensor in expected.items():
            assert np.array_equal(state[name][key].numpy(), tensor.numpy()), (name, key)
    assert state["cur_nimg"] == 0 and state["augment"]["p"] == pytest.approx(0.25)
    assert state["options"]["G"]["channel_base"] == 128


def test_checkpoint_of_a_stylegan1_file_is_refused_clearly(tf1_file, tmp_path, capsys):
    assert main(["import", str(tf1_file[0]), "--checkpoint", "-o", str(tmp_path / "x.pt")]) == 2
    err = capsys.readouterr().err
    assert "--checkpoint needs a StyleGAN2 G, G_ema and D" in err and "stylegan1" in err
    assert not (tmp_path / "x.pt").exists()


@pytest.mark.slow
def test_train_init_from_an_imported_checkpoint_starts_from_its_images(stylegan2_files, tmp_path):
    """kimg 0 of the new run draws exactly the imported G_ema's faces."""
    from tests.train.conftest import run_train, write_blob_zip
    from waifugan.train.snapshot import fakes_grid

    ckpt = tmp_path / "imported.pt"
    assert main(["import", str(stylegan2_files["nvlabs-pytorch"]), "--checkpoint", "-o",
                 str(ckpt)]) == 0  # fmt: skip
    data = write_blob_zip(tmp_path / "faces16.zip", count=16)
    flags = dict(data=str(data), outdir=str(tmp_path / "runs"), preset="cpu32", batch=8,
                 kimg=0.008, tick_kimg=0.008, snap=1, workers=0, device="cpu", seed=1,
                 init=str(ckpt))  # fmt: skip
    run_dir = run_train(flags)
    G = import_model(stylegan2_files["nvlabs-pytorch"]).G_ema
    np.testing.assert_array_equal(_png(run_dir / "fakes_init.png"), fakes_grid(G))


@pytest.mark.slow
def test_train_init_from_an_imported_model_file_starts_from_its_images(stylegan2_files, tmp_path):
    """A model file (G only) from rosinality: G/G_ema from the file, D fresh."""
    from tests.train.conftest import run_train, write_blob_zip
    from waifugan.train.snapshot import fakes_grid

    model = tmp_path / "imported.safetensors"
    assert main(["import", str(stylegan2_files["rosinality"]), "-o", str(model)]) == 0
    data = write_blob_zip(tmp_path / "faces16.zip", count=16)
    flags = dict(data=str(data), outdir=str(tmp_path / "runs"), preset="cpu32", batch=8,
                 kimg=0.008, tick_kimg=0.008, snap=1, workers=0, device="cpu", seed=1,
                 init=str(model))  # fmt: skip
    run_dir = run_train(flags)
    expected = fakes_grid(waifugan.load(model))
    np.testing.assert_array_equal(_png(run_dir / "fakes_init.png"), expected)


def test_train_init_refuses_a_stylegan1_model_with_a_clear_message(tf1_file, tmp_path):
    from tests.train.conftest import run_train, write_blob_zip
    from waifugan.errors import WaifuganError

    model = tmp_path / "anime.safetensors"
    import_model(tf1_file[0]).G_ema.save_pretrained(model)
    data = write_blob_zip(tmp_path / "faces16.zip", count=8)
    flags = dict(data=str(data), outdir=str(tmp_path / "runs"), preset="cpu32", batch=8,
                 kimg=0.008, workers=0, device="cpu", init=str(model))  # fmt: skip
    with pytest.raises(WaifuganError, match="stylegan1 model; waifugan trains StyleGAN2 only"):
        run_train(flags)
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_train_resume_continues_an_imported_checkpoint(stylegan2_files, tmp_path):
    from tests.train.conftest import run_train, write_blob_zip

    run = tmp_path / "run"
    ckpt = run / "checkpoint-000000.pt"
    assert main(["import", str(stylegan2_files["nvlabs-pytorch"]), "--checkpoint", "-o",
                 str(ckpt)]) == 0  # fmt: skip
    data = write_blob_zip(tmp_path / "faces16.zip", count=16)
    flags = dict(data=str(data), outdir=str(tmp_path / "runs"), batch=8, kimg=0.008,
                 tick_kimg=0.008, snap=1, workers=0, device="cpu")  # fmt: skip
    assert run_train(flags, resume=str(ckpt)) == run
    state = load_checkpoint(ckpt)  # the snapshot at 0.008 kimg has the same file name
    assert state["cur_nimg"] == 8 and state["options"]["G"]["channel_base"] == 128
