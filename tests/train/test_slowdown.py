"""A sudden slowdown of training (another job on the same cores) is named in the log."""

import time

import torch

from tests.train.conftest import run_train, tiny_flags
from waifugan.train.stats import SlowdownWatch

CPU = torch.device("cpu")


def test_warns_once_per_slow_spell_against_the_usual_speed():
    watch = SlowdownWatch(ratio=0.4, min_ticks=3)
    speeds = [22.0, 24.0, 23.0, 1.5, 1.6, 2.0, 22.5, 23.5, 5.0]
    warnings = [watch.observe(s, tick, CPU) for tick, s in enumerate(speeds)]
    assert [i for i, w in enumerate(warnings) if w] == [3, 8]  # spell starts, not each slow tick
    assert "tick 3 ran at 1.5 img/s, 7% of this run's usual 23.0 img/s" in warnings[3]
    assert "OMP_NUM_THREADS" in warnings[3]
    # The slow ticks stayed out of the median: the usual speed is still ~23.
    assert "usual 23.0 img/s" in warnings[8]


def test_no_verdict_before_enough_ticks_and_none_for_normal_noise():
    watch = SlowdownWatch(ratio=0.4, min_ticks=3)
    assert watch.observe(50.0, 0, CPU) is None
    assert watch.observe(5.0, 1, CPU) is None  # only one tick to compare with: no verdict
    assert [watch.observe(s, t, CPU) for t, s in enumerate([20, 30, 12, 25], 2)] == [None] * 4


def test_gpu_message_points_at_the_gpu_and_its_feeders():
    watch = SlowdownWatch(ratio=0.5, min_ticks=1)
    watch.observe(1000.0, 0, torch.device("cuda"))
    text = watch.observe(100.0, 1, torch.device("cuda"))
    assert text is not None and "GPU" in text and "OMP_NUM_THREADS" not in text


def test_a_stalled_tick_in_real_training_is_logged(blob_zip, tmp_path, capsys):
    def stall(loop):
        if loop.batch_idx == 22:  # inside tick 5 (4 steps per tick)
            time.sleep(3.0)

    flags = tiny_flags(blob_zip, tmp_path, kimg=0.256, tick_kimg=0.032, snap=100)
    run_dir = run_train(flags, on_step=stall)
    log = (run_dir / "log.txt").read_text()
    assert "warning: tick 5 ran at" in log and "of this run's usual" in log
    assert "warning: tick 5 ran at" in capsys.readouterr().err
