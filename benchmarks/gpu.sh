#!/usr/bin/env bash
# The GPU checks, prepared to run as one command on a CUDA machine (the device tool's H100):
#   bash benchmarks/gpu.sh
# 1. the GPU-marked tests (the CPU and the GPU restore alike, fp32 and fp16);
# 2. the large stack of benchmarks/large.py restored with default settings there, timed
#    (issue 14's target: <= 2 minutes on a GPU) -> benchmarks/results/large-gpu.md.
# Uses the machine's own python3 and torch; the logs and the table are copied to $OUT when it
# is set. Not run yet: no session has had a GPU. The timing runs even if a test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out="${OUT:-benchmarks/results}"
nvidia-smi -L | tee "$out/gpu_device.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))" \
    | tee -a "$out/gpu_device.txt"
python3 -m pytest -q -m gpu tests/test_gpu.py 2>&1 | tee "$out/gpu_tests.txt" \
    || echo "GPU tests failed: see $out/gpu_tests.txt"
python3 benchmarks/large.py --table large-gpu.md 2>&1 | tee "$out/large_gpu.log"
if [ "$out" != benchmarks/results ]; then cp benchmarks/results/large-gpu.md "$out/"; fi
