import json
import os
import signal
import time

import numpy as np
import pytest
import torch

import waifugan
from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.networks.model_file import save_model
from waifugan.train.checkpoint import load_checkpoint
from waifugan.train.rundir import find_resume_checkpoint


def test_a_short_run_writes_every_run_file(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.064, tick_kimg=0.032, snap=2))
    assert run_dir.parent == tmp_path and run_dir.name == "00000-blobs-cpu32"
    names = {p.name for p in run_dir.iterdir()}
    expected = {"options.json", "log.txt", "stats.jsonl", "reals.png", "fakes_init.png"}
    assert expected <= names
    assert "fakes000000.png" in names and "checkpoint-000000.pt" in names
    assert any(n.startswith("events.out.tfevents") for n in names)
    options = json.loads((run_dir / "options.json").read_text())
    assert options["batch"] == 8 and options["G"]["img_resolution"] == 16
    ticks = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [t["tick"] for t in ticks] == [0, 1]
    assert ticks[-1]["kimg"] == pytest.approx(0.064)
    for key in ("loss/G", "loss/D", "loss/r1_penalty", "loss/pl_penalty", "sec_per_kimg",
                "img_per_s", "peak_rss_mb"):  # fmt: skip
        assert key in ticks[0], key
    assert "tick 1" in (run_dir / "log.txt").read_text()
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 64 and state["batch_idx"] == 8
    assert {"G", "G_ema", "D", "G_opt", "D_opt", "augment", "options"} <= set(state)
    assert "rng" not in state  # random numbers derive from (seed, step, chunk): chunks.py
    # A second run gets the next number.
    assert run_train(tiny_flags(blob_zip, tmp_path, kimg=0.008)).name == "00001-blobs-cpu32"


def _interrupt_at(step: int):
    def on_step(loop):
        if loop.batch_idx == step:
            os.kill(os.getpid(), signal.SIGTERM)  # the real signal path: finish step, save, exit

    return on_step


def test_resume_after_sigterm_matches_an_uninterrupted_run(blob_zip, tmp_path):
    flags_a = tiny_flags(blob_zip, tmp_path / "a", kimg=0.128)
    flags_b = tiny_flags(blob_zip, tmp_path / "b", kimg=0.128)
    run_a = run_train(flags_a)
    run_b = run_train(flags_b, on_step=_interrupt_at(6))  # mid-tick, between regularization steps
    interrupted = load_checkpoint(run_b / "checkpoint-000000.pt")
    assert interrupted["cur_nimg"] == 48 and interrupted["batch_idx"] == 6
    assert run_train({"outdir": str(tmp_path / "b")}, resume="latest") == run_b
    a = load_checkpoint(run_a / "checkpoint-000000.pt")
    b = load_checkpoint(run_b / "checkpoint-000000.pt")
    for key in ("cur_nimg", "cur_tick", "batch_idx"):
        assert a[key] == b[key], key
    assert a["cur_nimg"] == 128
    for net in ("G", "G_ema", "D"):
        for name, tensor in a[net].items():
            torch.testing.assert_close(b[net][name], tensor, rtol=0, atol=0, msg=f"{net}.{name}")
    for opt in ("G_opt", "D_opt"):
        for idx, moments in a[opt]["state"].items():
            for k, v in moments.items():
                torch.testing.assert_close(b[opt]["state"][idx][k], v, rtol=0, atol=0)
    torch.testing.assert_close(a["pl_mean"], b["pl_mean"], rtol=0, atol=0)


def test_a_time_limit_ends_with_fakes_and_a_checkpoint_and_resume_goes_on(blob_zip, tmp_path):
    from waifugan.train.options import options_for_data
    from waifugan.train.run import train

    flags = tiny_flags(blob_zip, tmp_path, kimg=0.064)
    run_dir = train(options_for_data(flags), stop_at=time.time() - 1)  # up after the first step
    stopped = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert stopped["cur_nimg"] == 8 and stopped["batch_idx"] == 1
    assert (run_dir / "fakes000000.png").is_file()
    assert "time limit (--minutes) reached at 0.008 kimg" in (run_dir / "log.txt").read_text()
    assert "or until" in (run_dir / "log.txt").read_text()  # the start line names the limit
    assert run_train({"outdir": str(tmp_path)}, resume="latest") == run_dir
    assert load_checkpoint(run_dir / "checkpoint-000000.pt")["cur_nimg"] == 64


def test_resume_latest_skips_a_truncated_checkpoint(blob_zip, tmp_path, capsys):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.032))
    good = run_dir / "checkpoint-000000.pt"
    data = good.read_bytes()
    (run_dir / "checkpoint-000001.pt").write_bytes(data[: len(data) // 2])
    path, state = find_resume_checkpoint(tmp_path)
    assert path == good and state["cur_nimg"] == 32
    assert "checkpoint-000001.pt" in capsys.readouterr().err
    run_train({"outdir": str(tmp_path), "kimg": 0.064}, resume="latest")
    assert load_checkpoint(good)["cur_nimg"] == 64


def test_resume_with_a_different_network_names_the_parameter(blob_zip, tmp_path):
    run_train(tiny_flags(blob_zip, tmp_path, kimg=0.008))
    with pytest.raises(WaifuganError, match=r"parameter (mapping|synthesis)\.\S+ .*configuration"):
        run_train({"outdir": str(tmp_path), "cmax": 32}, resume="latest")


def test_non_finite_weights_stop_without_writing_a_checkpoint(blob_zip, tmp_path):
    def poison(loop):
        if loop.batch_idx == 2:
            loop.G.synthesis.b16.conv1.weight.data.fill_(float("nan"))

    with pytest.raises(WaifuganError, match="diverged.*non-finite"):
        run_train(tiny_flags(blob_zip, tmp_path, kimg=0.064), on_step=poison)
    run_dir = next(tmp_path.iterdir())
    assert not list(run_dir.glob("checkpoint-*.pt"))


def test_export_load_generate_matches_the_checkpoint_g_ema(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016))
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    model = save_model(waifugan.load(run_dir), tmp_path / "model.safetensors")
    from waifugan.networks.model_file import build_generator

    G_ckpt = build_generator(state["options"]["G"], state["G_ema"], "ckpt").eval()
    seeds = [0, 7, 123]
    expected = G_ckpt.sample(seeds, psi=0.7)
    np.testing.assert_array_equal(waifugan.load(model).sample(seeds, psi=0.7), expected)
    np.testing.assert_array_equal(
        waifugan.load(run_dir / "checkpoint-000000.pt").sample(seeds), expected
    )
    # The --outdir that holds the run names it too (its newest run with a checkpoint).
    (run_dir.parent / "00009-empty-run").mkdir()  # newer, but without a checkpoint
    np.testing.assert_array_equal(waifugan.load(run_dir.parent).sample(seeds), expected)


def test_transfer_learning_starts_from_the_weights_with_counters_at_zero(blob_zip, tmp_path):
    source = run_train(tiny_flags(blob_zip, tmp_path / "src", kimg=0.032))
    ckpt = source / "checkpoint-000000.pt"
    run_dir = run_train(tiny_flags(blob_zip, tmp_path / "dst", kimg=0.008, init=str(ckpt)))
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 8
    before = load_checkpoint(ckpt)["G"]["synthesis.b16.conv1.weight"]
    after = state["G"]["synthesis.b16.conv1.weight"]
    assert (after - before).abs().max() < 0.1 * before.abs().max()  # one step away, not re-init


def test_metrics_at_snapshots_go_to_metrics_jsonl(blob_zip, tmp_path, assets_dir):
    # The face rate needs no Inception pass, so the wiring is tested in seconds; FID/KID
    # themselves are tested in tests/metrics.
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.016, tick_kimg=0.008, snap=2,
                               metrics="facerate16"))  # fmt: skip
    (record,) = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert record["kimg"] == pytest.approx(0.016)
    assert 0 <= record["facerate16"] <= 1 and 0 <= record["facerate16_real"] <= 1
    assert "metrics facerate16" in (run_dir / "log.txt").read_text()


def test_unknown_metric_names_are_refused_before_training(blob_zip, tmp_path):
    with pytest.raises(WaifuganError, match="unknown metric 'fidd2k'"):
        run_train(tiny_flags(blob_zip, tmp_path, metrics="fid2k,fidd2k"))
    assert not tmp_path.exists() or not any(tmp_path.iterdir())
