"""TrainOptions: one merge order, refused misspellings, presets checked against the data,
resumed runs that honour changed learning rates, parameter counts in the run's records."""

import json

import pytest

from tests.train.conftest import run_train, tiny_flags, write_blob_zip
from waifugan.errors import WaifuganError
from waifugan.networks.discriminator import Discriminator
from waifugan.networks.generator import Generator
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.options import PRESETS, options_for_data, resolve_options
from waifugan.train.setup import lazy_adam_hyperparameters


def test_flags_override_resumed_options_which_override_the_preset():
    resumed = {"batch": 4, "glr": 0.001, "kimg": 3.0}
    opts = resolve_options("cpu64", {"data": "d.zip", "glr": 0.002, "kimg": None}, 64, resumed)
    assert (opts.batch, opts.glr, opts.kimg) == (4, 0.002, 3.0)  # resumed, flag, resumed
    assert opts.gamma == PRESETS["cpu64"].values["gamma"] and opts.resolution == 64  # preset


def test_fine_tuning_takes_the_presets_fine_tune_values_and_flags_still_win():
    from waifugan.bundled import bundled_model_path

    scratch = resolve_options("cpu64", {"data": "d.zip"}, 64)
    init = str(bundled_model_path())
    tuned = resolve_options("cpu64", {"data": "d.zip", "init": init}, 64)
    fine_tune = PRESETS["cpu64"].fine_tune
    assert set(fine_tune) == {"glr", "dlr", "gamma"}
    for name, value in fine_tune.items():
        assert getattr(tuned, name) == value != getattr(scratch, name), name
    # transfer.fine_tune_defaults, applied after the preset's fine-tuning values
    assert tuned.diffaug == "none" and tuned.aug == "ada"
    flagged = resolve_options("cpu64", {"data": "d.zip", "init": init, "glr": 0.001}, 64)
    assert (flagged.glr, flagged.dlr) == (0.001, fine_tune["dlr"])
    assert PRESETS["cpu32"].fine_tune == {}  # presets without them fine-tune with `values`


def test_a_misspelled_option_is_refused_by_name():
    with pytest.raises(WaifuganError, match="unknown training option.*glrr"):
        resolve_options("cpu64", {"glrr": 0.1}, 64)


def test_a_preset_for_another_resolution_warns_and_names_the_one_that_fits(tmp_path, capsys):
    data = write_blob_zip(tmp_path / "faces64.zip", count=4, size=64)
    opts = options_for_data({"data": str(data), "preset": "cpu32"})
    err = capsys.readouterr().err
    assert "preset cpu32 is tuned for 32 px" in err and "--preset cpu64 fits it" in err
    assert opts.resolution == 64 and opts.G_config().img_resolution == 64
    options_for_data({"data": str(data), "preset": "cpu64"})
    assert "warning" not in capsys.readouterr().err


def test_resume_applies_changed_learning_rates_and_intervals(blob_zip, tmp_path):
    run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016))
    run_train({"outdir": str(tmp_path), "kimg": 0.032, "glr": 0.001, "r1_interval": 8,
               "map_lr_mult": 0.1}, resume="latest")  # fmt: skip
    state = load_checkpoint(next(tmp_path.iterdir()) / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32
    g_group, map_group = state["G_opt"]["param_groups"]
    (d_group,) = state["D_opt"]["param_groups"]
    assert (g_group["lr"], tuple(g_group["betas"])) == lazy_adam_hyperparameters(0.001, 4)
    assert map_group["name"] == "mapping" and map_group["lr"] == pytest.approx(g_group["lr"] * 10)
    dlr = state["options"]["dlr"]  # unchanged, but now with the R1 interval of 8
    assert (d_group["lr"], tuple(d_group["betas"])) == lazy_adam_hyperparameters(dlr, 8)
    assert state["options"]["glr"] == 0.001 and state["options"]["r1_interval"] == 8


def test_parameter_counts_go_to_log_and_options_json(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.008))
    options = json.loads((run_dir / "options.json").read_text())
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    opts = resolve_options("cpu32", {}, 16, state["options"])
    G, D = Generator(opts.G_config()), Discriminator(opts.D_config())
    expected = {"G": sum(p.numel() for p in G.parameters()),
                "D": sum(p.numel() for p in D.parameters())}  # fmt: skip
    assert options["num_params"] == expected
    log = (run_dir / "log.txt").read_text()
    assert f"G {expected['G']:,} parameters, D {expected['D']:,} parameters" in log


def test_d_width_flags_shape_d_alone():
    opts = resolve_options("cpu64", {"data": "d.zip", "d_cbase": 1024, "d_cmax": 16}, 64)
    D, G = opts.D_config(), opts.G_config()
    assert (D.channel_base, D.channel_max) == (1024, 16)
    assert (G.channel_base, G.channel_max) == (opts.cbase, opts.cmax)
    same = resolve_options("cpu32", {"data": "d.zip"}, 32)  # no D width: G's
    assert (same.D_config().channel_base, same.D_config().channel_max) == (2048, 64)
    with pytest.raises(WaifuganError, match="--d-cbase must be ≥ 64"):
        resolve_options("cpu64", {"data": "d.zip", "d_cbase": 32}, 64)


def test_a_run_from_before_the_d_width_options_resumes_with_its_own_d():
    """Its options record D's width only in D's config; the preset's D width must not
    replace it, or its D would no longer load."""
    recorded = resolve_options("cpu64", {"data": "d.zip"}, 64).to_dict()
    old = {k: v for k, v in recorded.items() if k not in ("d_cbase", "d_cmax")}
    old["D"] = {**old["D"], "channel_base": 4096, "channel_max": 128}
    opts = resolve_options("cpu64", {}, 64, old)
    assert (opts.D_config().channel_base, opts.D_config().channel_max) == (4096, 128)
