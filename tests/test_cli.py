import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import waifugan
import waifugan.errors
from tests.tiny import tiny_G
from tests.train.conftest import write_blob_zip
from waifugan.cli import build_parser, main
from waifugan.networks.model_file import save_model


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_core_subcommands_exist():
    assert {"train", "export", "generate", "demo"} <= set(_subcommands())


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: waifugan " + command in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    out = subprocess.run(
        [sys.executable, "-m", "waifugan", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"waifugan {waifugan.__version__}"


def test_generate_writes_seed_pngs_and_a_grid(tmp_path):
    G = tiny_G(16)
    model = save_model(G, tmp_path / "m.safetensors")
    code = main(["generate", str(model), "--seeds", "3-5,9", "--psi", "0.5", "--grid", "2",
                 "--outdir", str(tmp_path / "out"), "--device", "cpu"])  # fmt: skip
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["grid.png", "seed0003.png", "seed0004.png", "seed0005.png", "seed0009.png"]
    expected = G.sample([9], psi=0.5)[0]
    np.testing.assert_array_equal(
        np.asarray(Image.open(tmp_path / "out" / "seed0009.png")), expected
    )
    assert Image.open(tmp_path / "out" / "grid.png").size == (32, 32)


def test_train_dry_run_prints_resolved_options(tmp_path, capsys):
    data = write_blob_zip(tmp_path / "d.zip", count=4)
    assert main(["train", "--data", str(data), "--batch", "4", "--gamma", "0.5", "--dry-run"]) == 0
    options = json.loads(capsys.readouterr().out)
    assert options["batch"] == 4 and options["gamma"] == 0.5 and options["resolution"] == 16
    assert options["preset"] == "cpu64" and options["G"]["channel_max"] == 64
    assert options["G"]["use_noise"] is False and options["diffaug"] == "color,translation"
    assert main(["train", "--data", str(data), "--noise", "--diffaug", "none", "--dry-run"]) == 0
    options = json.loads(capsys.readouterr().out)
    assert options["G"]["use_noise"] is True and options["diffaug"] == "none"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "missing.safetensors"], "missing.safetensors: no such model"),
        (["generate", "{model}", "--seeds", "1-x"], "seed '1-x'"),
        (["train", "--data", "nowhere.zip"], "nowhere.zip: no such file"),
        (["train", "--outdir", "{tmp}", "--resume", "latest"], "no valid checkpoint"),
        (["train", "--data", "x.zip", "--minutes", "0"], "--minutes must be > 0, got 0.0"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, capsys, argv, message):
    model = save_model(tiny_G(16), tmp_path / "m.safetensors")
    argv = [a.format(model=model, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_corrupt_model_file_is_refused_by_name(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(waifugan.errors.WaifuganError, match="bad.safetensors"):
        waifugan.load(bad)


def test_train_minutes_stops_early_with_a_checkpoint_and_exit_0(tmp_path, capsys):
    data = write_blob_zip(tmp_path / "blobs.zip")
    tiny = ["--preset", "cpu32", "--batch", "8", "--cbase", "256", "--cmax", "16", "--z-dim", "16",
            "--w-dim", "16", "--map-depth", "2", "--device", "cpu", "--workers", "0"]  # fmt: skip
    argv = ["train", "--data", str(data), "--outdir", str(tmp_path / "runs"), *tiny]
    assert main([*argv, "--kimg", "100", "--minutes", "0.001"]) == 0  # 60 ms: a step or a few
    (run_dir,) = (tmp_path / "runs").iterdir()
    from waifugan.train.checkpoint import load_checkpoint

    (checkpoint,) = run_dir.glob("checkpoint-*.pt")
    assert 0 < load_checkpoint(checkpoint)["cur_nimg"] < 100_000
    assert "time limit (--minutes) reached" in (run_dir / "log.txt").read_text()
    options = json.loads((run_dir / "options.json").read_text())
    assert "minutes" not in options  # a limit of this command, not of the run
