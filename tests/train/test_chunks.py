"""One process: batch chunks and their seeds, gradient accumulation, the w_avg updates and the
scrubbing of non-finite gradients on CPU."""

import pytest
import torch

from tests.train.conftest import run_train, tiny_flags
from waifugan.errors import WaifuganError
from waifugan.train import chunks, distributed, losses
from waifugan.train.checkpoint import load_checkpoint


def test_split_batch_rounds_and_chunk_indices():
    split = chunks.split_batch(16, 4, rank=1, world_size=2)
    assert (split.batch_gpu, split.rounds, split.total) == (4, 2, 4)
    assert [split.chunk_index(r) for r in range(split.rounds)] == [2, 3]
    assert split.loss_scale == 0.25
    assert chunks.split_batch(16, None, 0, 2).batch_gpu == 8  # one round per rank
    assert chunks.split_batch(16, 32, 0, 2).batch_gpu == 8  # never more than the share
    with pytest.raises(WaifuganError, match="--batch-gpu 3 does not divide the 8 images"):
        chunks.split_batch(16, 3, 0, 2)
    with pytest.raises(WaifuganError, match="--batch 10 is not divisible by 4 processes"):
        chunks.split_batch(10, None, 0, 4)


def test_chunk_seeds_are_a_function_of_seed_step_phase_and_chunk():
    seeds = {
        chunks.chunk_seed(seed, step, phase, chunk)
        for seed in (0, 1)
        for step in (0, 1)
        for phase in chunks.PHASES
        for chunk in (0, 1)
    }
    assert len(seeds) == 32  # all different
    assert chunks.chunk_seed(0, 5, "d_main", 1) == chunks.chunk_seed(0, 5, "d_main", 1)
    assert 0 <= chunks.chunk_seed(-3, 0, "g_main", 0) < 2**64  # any --seed works


def test_sum_gradients_scrubs_non_finite_values_on_cpu():
    module = torch.nn.Linear(3, 1)
    module.weight.grad = torch.tensor([[float("nan"), float("inf"), -float("inf")]])
    module.bias.grad = torch.tensor([2.0])
    distributed.sum_gradients(module, distributed.DistInfo())
    assert module.weight.grad.tolist() == [[0.0, 1e5, -1e5]]
    assert module.bias.grad.tolist() == [2.0]


def test_one_nan_step_does_not_poison_adams_moments_on_cpu(blob_zip, tmp_path, monkeypatch):
    original = losses.d_logistic_loss
    calls = []

    def nan_once(real_logits, fake_logits):
        calls.append(1)
        loss = original(real_logits, fake_logits)
        return loss * float("nan") if len(calls) == 1 else loss

    monkeypatch.setattr(losses, "d_logistic_loss", nan_once)
    seen = {}

    def inspect(loop):
        if loop.batch_idx == 2:
            moments = [v for s in loop.nets.D_opt.state.values() for v in s.values()]
            seen["finite"] = all(bool(torch.isfinite(m).all()) for m in moments)
            seen["D"] = all(bool(torch.isfinite(p).all()) for p in loop.D.parameters())

    with pytest.raises(WaifuganError, match="non-finite loss/D"):  # the tick check still tells
        run_train(tiny_flags(blob_zip, tmp_path, kimg=0.032), on_step=inspect)
    assert seen == {"finite": True, "D": True}


def test_w_avg_follows_every_training_mapping_call(blob_zip, tmp_path):
    # pl_interval 1: G main, G reg and D's fakes each map a batch of z in every step.
    calls: list[torch.Tensor] = []
    seen = {}

    def watch(loop):
        if loop.batch_idx == 1:
            seen["before"] = loop.G.mapping.w_avg.clone()
            loop.G.mapping.register_forward_hook(lambda m, i, out: calls.append(out.detach()))
        elif loop.batch_idx == 2:
            seen["after"] = loop.G.mapping.w_avg.clone()
            seen["beta"] = loop.G.mapping.w_avg_beta

    flags = tiny_flags(blob_zip, tmp_path, kimg=0.016, style_mixing=0.0, pl_interval=1)
    run_train(flags, on_step=watch)
    assert len(calls) == 3  # G main, G reg, D main
    expected = seen["before"]
    for ws in calls:
        expected = ws[:, 0].mean(dim=0).lerp(expected, seen["beta"])
    torch.testing.assert_close(seen["after"], expected, rtol=0, atol=1e-7)
    assert not torch.equal(seen["after"], seen["before"])


def test_batch_gpu_accumulates_to_a_valid_run(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.032, batch_gpu=2))
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32 and state["options"]["batch_gpu"] == 2
    assert "4 chunks of 2" in (run_dir / "log.txt").read_text()
