#!/usr/bin/env bash
# The GPU check of issue 14, as one command for a device machine (about 10 minutes on one
# H100/H200 class GPU): the CUDA tests, then benchmarks/gpu.py. Needs a Python with a CUDA build
# of torch and waifugan's dependencies (PYTHON, default python3); writes logs to OUT (default .).
#   OUT=$OUT bash benchmarks/gpu_check.sh
set -o pipefail
PY=${PYTHON:-python3}
OUT=${OUT:-.}
export PYTHONUNBUFFERED=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
$PY - <<'PY' || exit 2
import torch
assert torch.cuda.is_available(), f"no CUDA GPU visible to torch {torch.__version__}"
print(torch.cuda.get_device_name(0), torch.__version__, torch.version.cuda)
PY
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv | tee "$OUT/gpu.txt"
$PY -m pytest -q -m cuda -p no:cacheprovider tests/train/test_cuda.py 2>&1 | tee "$OUT/cuda-tests.txt"
tests=$?
$PY benchmarks/gpu.py --precisions fp16,fp32 --steps 16 --warmup 4 2>&1 \
    | grep -v '^train:' | tee "$OUT/gpu-bench.txt"
bench=$?
# bf16 and channels_last: whether they pay, at 256 px (FP16 is the default until they do)
$PY benchmarks/gpu.py --presets gpu256 --precisions fp16,bf16 --channels-last --no-flops 2>&1 \
    | grep -v '^train:' | tee "$OUT/gpu-bench-bf16.txt"
exit $((tests || bench || $?))
