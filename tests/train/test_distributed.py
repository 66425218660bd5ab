import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from waifugan.train.checkpoint import load_checkpoint


def test_two_process_gloo_run_on_cpu(blob_zip, tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists() and shutil.which("torchrun") is None:
        pytest.skip("torchrun is not installed next to this Python")
    cmd = [str(torchrun if torchrun.exists() else "torchrun"), "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", "29517", "-m", "waifugan", "train",
           "--data", str(blob_zip), "--outdir", str(tmp_path), "--preset", "cpu32",
           "--batch", "8", "--kimg", "0.032", "--tick", "0.016", "--snap", "1", "--cbase", "256",
           "--cmax", "16", "--z-dim", "16", "--w-dim", "16", "--workers", "0",
           "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = tmp_path.iterdir()
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 32 and state["batch_idx"] == 4  # 4 steps of 2 x 4 images
    assert len((run_dir / "stats.jsonl").read_text().splitlines()) == 2  # rank 0 writes alone
