#!/usr/bin/env bash
# One prepared GPU run of the whole-body (wholebody-v1, 2.5-D) synthesis model, for a session with a GPU
# (budget: 15 minutes of device time in all, one run). Trains at full size (whole 256² slices at 1.5 mm, a wider
# U-Net, more phantoms, bigger batches) for at most TRAIN_MIN minutes, exports the bundle, evaluates it on the
# held-out real slices and phantoms, and leaves bundle + metrics + figure + logs in $OUT (or ./gpu-out).
#
#   run:  bash GANSynthesisTraining/gpu_wholebody.sh           (from the repository root, with .venv built by `make venv`)
#   then: copy $OUT/wholebody-ct to Resources/Models/wholebody-ct if its metrics beat the bundled one.
set -euo pipefail
OUT=${OUT:-gpu-out}
TRAIN_MIN=${TRAIN_MIN:-8}
PY=${PY:-.venv/bin/python}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/gpu.txt" || true
# Same architecture family as the CPU bundle but twice as wide; whole-slice crops; bf16 autocast on the GPU.
timeout $(( (TRAIN_MIN + 4) * 60 )) "$PY" -m GANSynthesisTraining wholebody \
  --phantoms 96 --steps 20000 --time-limit-min "$TRAIN_MIN" --batch-size 32 --crop 256 --device cuda \
  --g-base-width 32 --g-depth 7 --g-max-width 256 --g-dropout 0 --ema-decay 0.999 \
  --checkpoint-every 1000 --log-every 200 --device-note "GPU ($(head -2 "$OUT/gpu.txt" | tail -1))" \
  --run-dir "$OUT/run" --export "$OUT/wholebody-ct" --name wholebody-ct 2>&1 | tee "$OUT/train.log"
"$PY" -m GANSynthesisTraining evaluate-wholebody --bundle "$OUT/wholebody-ct" --out "$OUT/evaluation" 2>&1 | tee "$OUT/evaluate.log"
"$PY" benchmarks/wholebody_benchmark.py --model "$OUT/wholebody-ct" --device cuda 2>&1 | tee "$OUT/benchmark_gpu.txt"
"$PY" benchmarks/wholebody_benchmark.py --model "$OUT/wholebody-ct" --device cpu 2>&1 | tee "$OUT/benchmark_cpu.txt"
ls -la "$OUT" "$OUT/wholebody-ct"
