#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the GPU tests, then the training-step ratios of step_speed on CUDA
# (rsm and sab against the LSTMCell loop and against cuDNN's fused LSTM, lstm-fused), at batch 32 and 256,
# then replicate groups' training throughput (scripts/group_speed.py) at G = 1, 8 and 64, with and without
# the CUDA graph of the grouped step. Under 10 minutes on one H100/H200-class GPU. Figures land in ${OUT:-gpu_check_out}/.
#     bash scripts/gpu_check.sh            # from the repository root, with the project installed
set -uo pipefail  # a failing part does not stop the others; each writes its own file
PY=${PYTHON:-python}
OUT=${OUT:-gpu_check_out}
mkdir -p "$OUT"
$PY -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: no CUDA device visible')" || exit 2
$PY - <<'PY' | tee "$OUT/device.txt"
import torch
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))
PY
# every test marked gpu (tests/variants/test_cuda.py, tests/measure/test_gpu.py), then the CPU references
timeout 240 $PY -m pytest -q -p no:cacheprovider -m gpu tests 2>&1 | tee "$OUT/tests_gpu.txt" | tail -3
timeout 120 $PY -m pytest -q -p no:cacheprovider tests/variants/test_against_reference.py tests/ops \
    2>&1 | tee "$OUT/tests_reference.txt" | tail -3
for batch in 32 256; do
    timeout 120 $PY scripts/step_speed.py --device cuda --batch "$batch" --seq-len 1020 --repeats 5 \
        --only lstm-cell lstm-fused rsm sab --json "$OUT/step_speed_b$batch.json" 2>/dev/null \
        | tee "$OUT/step_speed_b$batch.txt"
done
# replicate groups: replicate-steps per second at G = 1, 8, 64, eager and as a captured CUDA graph
timeout 240 $PY scripts/group_speed.py --device cuda --groups 1,8,64 --sizes quick,large --rounds 3 --steps 3 \
    --cuda-graph --json "$OUT/group_speed.json" 2>"$OUT/group_speed.err" | tee "$OUT/group_speed.txt"
