"""ADA, Freeze-D and transfer learning inside training runs (tiny 16 px networks)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.train.conftest import run_train, tiny_flags, write_blob_zip
from waifugan.errors import WaifuganError
from waifugan.networks.model_file import build_generator, save_model
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.snapshot import fakes_grid

NETWORK_FLAGS = ("cbase", "cmax", "z_dim", "w_dim", "map_depth")


def ticks(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def final_checkpoint(run_dir: Path) -> dict:
    return load_checkpoint(sorted(run_dir.glob("checkpoint-*.pt"))[-1])


@pytest.fixture(scope="module")
def source_run(tmp_path_factory, blob_zip) -> Path:
    """A short finished run to fine-tune from (checkpoint + its fakes grid)."""
    out = tmp_path_factory.mktemp("source")
    return run_train(tiny_flags(blob_zip, out, kimg=0.032, tick_kimg=0.032, aug="none"))


# -- ADA --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_p_rises_when_d_overfits_a_dozen_images(tmp_path):
    # A dozen images, a D that learns fast and a G that barely moves: D calls every real
    # image real (r_t → 1 > 0.6), so p climbs by batch·4/(ada_kimg·1000) every 4 steps.
    data = write_blob_zip(tmp_path / "dozen.zip", count=12)
    flags = tiny_flags(data, tmp_path / "runs", kimg=0.32, tick_kimg=0.064, snap=100,
                       ada_kimg=2, glr=1e-5, dlr=0.01, gamma=0.0, pl_weight=0.0,
                       diffaug="none", aug="ada")  # fmt: skip
    run_dir = run_train(flags)
    records = ticks(run_dir)
    p = [t["augment_p"] for t in records]
    assert p[-1] >= 0.05, p  # up to 0.16 if every interval raised it
    assert records[-1]["augment_rt"] > 0.6
    assert final_checkpoint(run_dir)["augment"]["p"] == p[-1]


@pytest.mark.slow
def test_p_stays_near_zero_when_d_does_not_overfit(tmp_path):
    # Balanced training (preset learning rates, R1) on 1000 images: r_t stays around or
    # below the target, so p only ever makes a step or two away from 0.
    data = write_blob_zip(tmp_path / "many.zip", count=1000)
    flags = tiny_flags(data, tmp_path / "runs", kimg=0.32, tick_kimg=0.064, snap=100, ada_kimg=2,
                       diffaug="none", aug="ada")  # fmt: skip
    p = [t["augment_p"] for t in ticks(run_train(flags))]
    assert max(p) <= 0.032, p  # 0.016 per interval


def test_aug_none_leaves_p_at_zero_and_fixed_keeps_p(blob_zip, tmp_path):
    none = run_train(tiny_flags(blob_zip, tmp_path / "none", kimg=0.032, aug="none"))
    assert all(t["augment_p"] == 0.0 and "augment_rt" not in t for t in ticks(none))
    fixed = run_train(tiny_flags(blob_zip, tmp_path / "fixed", kimg=0.032, aug="fixed", p=0.3))
    assert all(t["augment_p"] == 0.3 for t in ticks(fixed))
    assert final_checkpoint(fixed)["augment"] == {"p": 0.3}


def _interrupt_at(step: int):
    def on_step(loop):
        if loop.batch_idx == step:
            os.kill(os.getpid(), signal.SIGTERM)

    return on_step


def test_resume_restores_p_and_the_sign_statistic_exactly(blob_zip, tmp_path):
    # ADA starts at p = 0.2 (augmenting from the first step) and moves 0.032 per interval.
    flags = dict(kimg=0.096, p=0.2, ada_kimg=1.0, aug="ada")
    run_a = run_train(tiny_flags(blob_zip, tmp_path / "a", **flags))
    run_b = run_train(tiny_flags(blob_zip, tmp_path / "b", **flags), on_step=_interrupt_at(6))
    interrupted = load_checkpoint(run_b / "checkpoint-000000.pt")["augment"]
    assert interrupted["sign_count"] == 16  # two steps into the second interval
    run_train({"outdir": str(tmp_path / "b")}, resume="latest")
    a, b = final_checkpoint(run_a), final_checkpoint(run_b)
    assert a["augment"] == b["augment"] and a["cur_nimg"] == b["cur_nimg"] == 96
    assert a["augment"]["p"] not in (0.0, 0.2), "p never moved: resume not exercised"
    assert [t["augment_p"] for t in ticks(run_a)] == [t["augment_p"] for t in ticks(run_b)]
    for net in ("G", "G_ema", "D"):
        for name, tensor in a[net].items():
            torch.testing.assert_close(b[net][name], tensor, rtol=0, atol=0, msg=f"{net}.{name}")


# -- transfer learning ------------------------------------------------------------------------


def untuned_flags(data: Path, outdir: Path, **overrides) -> dict:
    """Tiny flags without network options: those come from the --init source."""
    flags = tiny_flags(data, outdir, **overrides)
    for key in NETWORK_FLAGS:
        flags.pop(key)
    return flags


def test_init_from_a_checkpoint_reproduces_its_g_ema_images_at_kimg_0(source_run, blob_zip,
                                                                      tmp_path):  # fmt: skip
    ckpt = source_run / "checkpoint-000000.pt"
    run_dir = run_train(untuned_flags(blob_zip, tmp_path, kimg=0.008, init=str(ckpt)))
    # fakes_init.png (G_ema at kimg 0) is pixel-identical to the source's last grid.
    expected = np.asarray(Image.open(source_run / "fakes000000.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(run_dir / "fakes_init.png")), expected)
    options = json.loads((run_dir / "options.json").read_text())
    started = options["started_from"]
    assert started["kind"] == "checkpoint" and started["kimg"] == 0.032
    assert started["path"] == str(ckpt.resolve())
    for net in ("G", "G_ema", "D"):
        counts = started["parameters"][net]
        assert counts["matched"] > 0 and counts["shape_mismatched"] == counts["new"] == []
        assert counts["widened"] == []
    assert options["ema_rampup"] is None and options["cmax"] == 16  # fine-tuning defaults
    assert options["aug"] == "ada" and options["diffaug"] == "none"
    log = (run_dir / "log.txt").read_text()
    assert "transfer learning from" in log and "shape-mismatched" in log


def test_init_from_a_model_file_starts_d_fresh(source_run, blob_zip, tmp_path):
    state = load_checkpoint(source_run / "checkpoint-000000.pt")
    G_ema = build_generator(state["options"]["G"], state["G_ema"], "source")
    model = save_model(G_ema, tmp_path / "model.safetensors")
    run_dir = run_train(untuned_flags(blob_zip, tmp_path / "runs", kimg=0.008, init=str(model)))
    np.testing.assert_array_equal(
        np.asarray(Image.open(run_dir / "fakes_init.png")), fakes_grid(G_ema.eval())
    )
    started = json.loads((run_dir / "options.json").read_text())["started_from"]
    assert started["kind"] == "model" and started["parameters"]["D"]["fresh"] is True
    assert started["parameters"]["D"]["matched"] == 0
    assert "fresh: the source has no D" in (run_dir / "log.txt").read_text()


def test_init_into_a_wider_network_draws_what_the_source_drew(source_run, blob_zip, tmp_path):
    ckpt = source_run / "checkpoint-000000.pt"
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.008, init=str(ckpt), cmax=32))
    started = json.loads((run_dir / "options.json").read_text())["started_from"]["parameters"]
    for net in ("G", "G_ema", "D"):
        assert started[net]["widened"] and started[net]["shape_mismatched"] == []
    assert "synthesis.b4.conv1.weight" in started["G"]["widened"]
    assert "G widened: " in (run_dir / "log.txt").read_text()
    expected = np.asarray(Image.open(source_run / "fakes000000.png")).astype(int)
    got = np.asarray(Image.open(run_dir / "fakes_init.png")).astype(int)
    assert np.abs(got - expected).max() <= 1  # float rounding of the wider sums, no more


def test_init_into_a_narrower_network_loads_what_fits(source_run, blob_zip, tmp_path):
    ckpt = source_run / "checkpoint-000000.pt"
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.008, init=str(ckpt), cmax=8))
    G = json.loads((run_dir / "options.json").read_text())["started_from"]["parameters"]["G"]
    assert G["matched"] > 0 and "synthesis.b4.conv1.weight" in G["shape_mismatched"]
    assert G["widened"] == []
    assert "G shape-mismatched: " in (run_dir / "log.txt").read_text()


def test_init_takes_the_sources_d_width(blob_zip, tmp_path):
    narrow = run_train(tiny_flags(blob_zip, tmp_path / "narrow", kimg=0.008, d_cbase=128, d_cmax=8))
    ckpt = sorted(narrow.glob("checkpoint-*.pt"))[-1]
    run_dir = run_train(untuned_flags(blob_zip, tmp_path / "runs", kimg=0.008, init=str(ckpt)))
    options = json.loads((run_dir / "options.json").read_text())
    assert (options["D"]["channel_base"], options["D"]["channel_max"]) == (128, 8)
    D = options["started_from"]["parameters"]["D"]
    assert D["widened"] == D["shape_mismatched"] == D["new"] == []


def test_init_from_a_higher_resolution_is_refused(source_run, tmp_path):
    data8 = write_blob_zip(tmp_path / "blobs8.zip", count=8, size=8)
    ckpt = source_run / "checkpoint-000000.pt"
    with pytest.raises(WaifuganError, match="draws 16 px images but the dataset has 8 px"):
        run_train(untuned_flags(data8, tmp_path / "runs", init=str(ckpt)))


def test_init_grows_a_lower_resolution_source(source_run, tmp_path):
    data32 = write_blob_zip(tmp_path / "blobs32.zip", count=8, size=32)
    ckpt = source_run / "checkpoint-000000.pt"
    flags = untuned_flags(data32, tmp_path / "runs", kimg=0.016, init=str(ckpt), aug="none")
    run_dir = run_train(flags)
    started = json.loads((run_dir / "options.json").read_text())["started_from"]["parameters"]
    for net in ("G", "G_ema"):
        assert started[net]["new"] and started[net]["shape_mismatched"] == []
        assert all(name.startswith("synthesis.b32.") for name in started[net]["new"])
    assert started["D"]["new"] and all(n.startswith("b32.") for n in started["D"]["new"])
    assert started["D"]["shape_mismatched"] == []
    # the zeroed toRGB of the new block learns: its gradient is not cut off
    G = final_checkpoint(run_dir)["G"]
    assert G["synthesis.b32.torgb.weight"].abs().sum() > 0


def test_a_grown_generator_starts_out_drawing_the_source_upsampled():
    from waifugan.networks.generator import Generator, GeneratorConfig
    from waifugan.train.transfer import transfer_weights, zero_new_torgb

    torch.manual_seed(0)
    shape = dict(z_dim=16, w_dim=16, channel_base=256, channel_max=16, map_depth=2)
    small = Generator(GeneratorConfig(img_resolution=16, **shape)).eval()
    grown = Generator(GeneratorConfig(img_resolution=32, **shape)).eval()
    result = transfer_weights(grown, small.state_dict())
    assert result.mismatched == [] and result.unused == []
    zero_new_torgb(grown, 16)
    z = torch.randn(4, 16)
    with torch.no_grad():
        expected = torch.nn.functional.interpolate(small(z), scale_factor=2, mode="bilinear")
        got = grown(z)
    assert got.shape == (4, 3, 32, 32)
    # G's FIR upsampling equals bilinear away from the borders, where the padding differs
    torch.testing.assert_close(got[..., 2:-2, 2:-2], expected[..., 2:-2, 2:-2])


# -- Freeze-D ---------------------------------------------------------------------------------


def test_freeze_d_leaves_the_frozen_blocks_bit_unchanged(source_run, blob_zip, tmp_path):
    ckpt = source_run / "checkpoint-000000.pt"
    flags = tiny_flags(blob_zip, tmp_path, kimg=0.032, init=str(ckpt), freezed=1)
    before, after = load_checkpoint(ckpt)["D"], final_checkpoint(run_train(flags))["D"]
    frozen = [name for name in before if name.startswith("b16.")]
    others = [name for name in before if not name.startswith("b16.")]
    assert frozen and others
    for name in frozen:
        assert torch.equal(before[name], after[name]), name
    assert all(not torch.equal(before[name], after[name]) for name in others if "weight" in name)


def test_freezed_beyond_the_d_blocks_is_refused(blob_zip, tmp_path):
    with pytest.raises(WaifuganError, match="--freezed 3: D has 2 blocks"):
        run_train(tiny_flags(blob_zip, tmp_path, freezed=3))


def test_train_flags_reach_the_options(blob_zip, capsys):
    from waifugan.cli import main

    argv = ["train", "--data", str(blob_zip), "--aug", "fixed", "--p", "0.3", "--augpipe", "bg",
            "--target", "0.7", "--ada-kimg", "50", "--freezed", "1", "--dry-run"]  # fmt: skip
    assert main(argv) == 0
    options = json.loads(capsys.readouterr().out)
    assert (options["aug"], options["p"], options["augpipe"]) == ("fixed", 0.3, "bg")
    assert (options["target"], options["ada_kimg"], options["freezed"]) == (0.7, 50, 1)
    assert main(["train", "--data", str(blob_zip), "--dry-run"]) == 0
    defaults = json.loads(capsys.readouterr().out)
    assert (defaults["aug"], defaults["augpipe"], defaults["ada_kimg"]) == ("none", "bgc", 20)
