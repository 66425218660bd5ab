"""On a CUDA GPU (`pytest -m cuda`; skipped without one): FP16/BF16 networks agree with FP32,
a few mixed-precision training steps stay finite, and resume is exact under
torch.use_deterministic_algorithms. ADA's geometric augmentation is off in the resume test:
grid_sample's CUDA backward adds with atomics, so its gradients differ in the last bits from
run to run (an augmented resumed run is equivalent, not bit-identical)."""

import os

import pytest
import torch

from tests.train.conftest import run_train, tiny_flags
from waifugan.networks.discriminator import Discriminator, DiscriminatorConfig
from waifugan.networks.generator import Generator, GeneratorConfig
from waifugan.networks.precision import set_mixed_precision
from waifugan.train.checkpoint import first_non_finite, load_checkpoint

# cuBLAS is deterministic only with a fixed workspace, set before it starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CUDA_NET = dict(device="cuda", num_fp16_res=2, conv_clamp=256.0, precision="fp16")


def _networks(precision: str):
    torch.manual_seed(0)
    g_cfg = GeneratorConfig(img_resolution=64, z_dim=64, w_dim=64, map_depth=2, channel_base=2048,
                            channel_max=64, num_fp16_res=2, conv_clamp=256)  # fmt: skip
    d_cfg = DiscriminatorConfig(img_resolution=64, channel_base=2048, channel_max=64,
                                num_fp16_res=2, conv_clamp=256)  # fmt: skip
    G, D = Generator(g_cfg).cuda(), Discriminator(d_cfg).cuda()
    set_mixed_precision(G, precision)
    set_mixed_precision(D, precision)
    return G, D


@pytest.mark.parametrize(("precision", "atol"), [("fp16", 2e-2), ("bf16", 1.5e-1)])
def test_mixed_precision_networks_agree_with_fp32_on_cuda(precision, atol):
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bf16")
    z = torch.randn(8, 64, generator=torch.Generator().manual_seed(1)).cuda()
    G32, D32 = _networks("fp32")
    G16, D16 = _networks(precision)
    with torch.no_grad():
        img32, img16 = G32(z, noise_mode="const"), G16(z, noise_mode="const")
        assert torch.isfinite(img16).all()
        torch.testing.assert_close(img16, img32, rtol=0, atol=atol)
        torch.testing.assert_close(D16(img32), D32(img32), rtol=0, atol=atol * 5)


def test_a_few_fp16_training_steps_stay_finite(blob_zip, tmp_path):
    run_dir = run_train(tiny_flags(blob_zip, tmp_path, kimg=0.064, **CUDA_NET))
    state = load_checkpoint(run_dir / "checkpoint-000000.pt")
    assert state["cur_nimg"] == 64
    assert first_non_finite(state) is None
    assert "on cuda" in (run_dir / "log.txt").read_text()


def test_resume_is_exact_on_cuda(blob_zip, tmp_path):
    torch.use_deterministic_algorithms(True)
    try:
        flags = dict(kimg=0.064, aug="none", diffaug="", **CUDA_NET)
        run_a = run_train(tiny_flags(blob_zip, tmp_path / "a", **flags))
        run_train(tiny_flags(blob_zip, tmp_path / "b", **{**flags, "kimg": 0.032}))
        run_b = run_train({"outdir": str(tmp_path / "b"), "kimg": 0.064}, resume="latest")
    finally:
        torch.use_deterministic_algorithms(False)
    a = load_checkpoint(run_a / "checkpoint-000000.pt")
    b = load_checkpoint(run_b / "checkpoint-000000.pt")
    assert a["cur_nimg"] == b["cur_nimg"] == 64
    for net in ("G", "G_ema", "D"):
        for name, tensor in a[net].items():
            assert torch.equal(b[net][name], tensor), f"{net}.{name}"
    for opt in ("G_opt", "D_opt"):
        for idx, moments in a[opt]["state"].items():
            for k, v in moments.items():
                assert torch.equal(b[opt]["state"][idx][k], v), f"{opt}[{idx}].{k}"
