#!/usr/bin/env bash
# One prepared GPU run for a session with a GPU (15 minutes of device time in all, one run): four small models
# trained side by side on one GPU, each for at most TRAIN_MIN minutes, then exported and (whole-body) evaluated:
#   wb16, wb12   compact whole-body synthesis (U-Net width 16 depth 6, width 12 depth 7; both ≤ 64 channels)
#   an16, an24   real-CT anomaly inpainting GANs (phantoms + real normal CT; 48 mm and 72 mm holes at 3 mm),
#                exported with a quick calibration; calibrate them fully on the CPU afterwards (--networks-from)
# Results: $OUT/<job>.tgz (bundle, run folder without checkpoints, evaluation, log) and $OUT/gpu.txt.
#
# Here first:  python -m GANSynthesisTraining portable-scans --out .gpu/data   (the GPU machine has no SimpleITK)
# There:       GANSYNTHESIS_REAL_DATA=.gpu/data PY=python3 bash GANSynthesisTraining/gpu_session.sh
set -uo pipefail
OUT=${OUT:-gpu-out}
TRAIN_MIN=${TRAIN_MIN:-5}  # minutes of training per model (may be fractional)
DEVICE=${DEVICE:-cuda}
WB_PHANTOMS=${WB_PHANTOMS:-48}
AN_PHANTOMS=${AN_PHANTOMS:-40}
PY=${PY:-.venv/bin/python}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
WORK=$(mktemp -d)
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader > "$OUT/gpu.txt" 2>&1 || echo "no GPU" > "$OUT/gpu.txt"
NOTE="GPU ($(head -1 "$OUT/gpu.txt"), shared by four runs)"
LIMIT=$(awk "BEGIN { print int($TRAIN_MIN * 60 + 120) }")  # seconds a training command may take (data, training, export)
PHASE=$(awk "BEGIN { print $TRAIN_MIN * 0.4 }")  # an anomaly model's GAN and error scale train this long each

wholebody() {  # job name, then U-Net options
  local job=$1; shift
  mkdir -p "$WORK/$job"
  timeout "$LIMIT" "$PY" -m GANSynthesisTraining wholebody --phantoms "$WB_PHANTOMS" --steps 200000 --time-limit-min "$TRAIN_MIN" \
    --batch-size 32 --crop 256 --device "$DEVICE" --threads 3 "$@" --g-dropout 0 --ema-decay 0.999 \
    --checkpoint-every 100000 --log-every 250 --snapshot-steps --device-note "$NOTE" \
    --run-dir "$WORK/$job/run" --export "$WORK/$job/wholebody-ct" --name wholebody-ct
  [ "${EVALUATE:-1}" = 1 ] && timeout 120 "$PY" -m GANSynthesisTraining evaluate-wholebody --bundle "$WORK/$job/wholebody-ct" \
    --out "$WORK/$job/evaluation" --threads 3
}

anomaly() {  # job name, hole size
  local job=$1 hole=$2
  mkdir -p "$WORK/$job"
  timeout "$LIMIT" "$PY" -m GANSynthesisTraining inpainting --phantoms "$AN_PHANTOMS" --real-ct --modality ct \
    --steps 200000 --scale-steps 200000 --time-limit-min "$PHASE" --batch-size 64 --device "$DEVICE" \
    --threads 3 --hole "$hole" --grid-shifts 2 --g-base-width 16 --g-depth 6 --g-max-width 64 --ema-decay 0.999 \
    --intensity-evidence --lesion-supersample 3 --calibration 2 --held-out 2 --checkpoint-every 100000 \
    --log-every 250 --snapshot-steps --training-note "Trained on a GPU ($(head -1 "$OUT/gpu.txt"), shared by four runs)." \
    --run-dir "$WORK/$job" --export "$WORK/$job/bundle" --name anomaly-ct-real
}

wholebody wb16 --g-base-width 16 --g-depth 6 --g-max-width 64 > "$WORK/wb16.log" 2>&1 &
wholebody wb12 --g-base-width 12 --g-depth 7 --g-max-width 64 > "$WORK/wb12.log" 2>&1 &
anomaly an16 16 > "$WORK/an16.log" 2>&1 &
anomaly an24 24 > "$WORK/an24.log" 2>&1 &
while [ -n "$(jobs -r)" ]; do sleep 30; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader; tail -qn1 "$WORK"/*.log; done
wait
for job in wb16 wb12 an16 an24; do  # checkpoints come back only where no bundle was exported
  exclude=(--exclude='checkpoint.*')
  ls "$WORK/$job"/*/model.json > /dev/null 2>&1 || exclude=()
  tar czf "$OUT/$job.tgz" -C "$WORK" "${exclude[@]}" "$job" "$job.log"
done
ls -la "$OUT"
