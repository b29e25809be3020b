#!/usr/bin/env bash
# Every speed and scale number the project is judged by, in one go on one GPU machine:
#   1. whole-volume inference, 512×512×300: engine vs per-slice batch-1 fp32 loop, on the GPU and the CPU with the
#      bundled default model, and on the GPU with a full-resolution U-Net-256 (medians of 7 runs);
#   2. pix2pix training (U-Net-256, 8-channel labels, 70×70 PatchGAN, batch 64): end to end vs compute-only vs
#      a reference-style loop, eager and with torch.compile;
#   3. a few hundred GPU steps of the other families (CycleGAN, inpainting anomaly GAN, f-AnoGAN) with their speed,
#      batches augmented on the device;
#   4. a 1-GPU torchrun training killed mid-run, resumed and finished (benchmarks/resume_drill.py).
# Logs go to LOG_DIR (default runs/gpu-acceptance), one file per part; run folders to a temporary folder.
# Needs torch, numpy, scipy, safetensors, matplotlib and Pillow; not SimpleITK (phantom data only).
#
#   bash benchmarks/gpu_acceptance.sh [LOG_DIR]              # on a CUDA machine
#   PARTS="inference resume" bash benchmarks/gpu_acceptance.sh   # some parts only (names below)
#   DEVICE=cpu SMOKE=1 bash benchmarks/gpu_acceptance.sh     # tiny sizes: checks this script on a CPU
set -uo pipefail
cd "$(dirname "$0")/.."
LOG_DIR=${1:-runs/gpu-acceptance}
PYTHON=${PYTHON:-python3}
DEVICE=${DEVICE:-cuda}
SMOKE=${SMOKE:-0}
PARTS=${PARTS:-environment inference inference_unet256 training training_compile families resume}
RUNS=$(mktemp -d)
trap 'rm -rf "$RUNS"' EXIT
mkdir -p "$LOG_DIR"
export PYTHONUNBUFFERED=1
failed=()

if [ "$SMOKE" = 1 ]; then
  VOLUME=(--size 64 64 24 --repeats 1)
  NETWORK=(--canvas 64 --batch-size 4 --g-depth 6 --g-base-width 8 --g-max-width 32 --d-base-width 8 --steps 3 --cases 2)
  STEPS=4; PHANTOMS=2; SIZE=(64 64 12); BATCH=4; DRILL=(--checkpoint-every 2 --kill-after 4 --more-steps 2)
else
  VOLUME=(--size 512 512 300 --repeats 7)
  NETWORK=(--canvas 256 --batch-size 64 --g-depth 8 --g-base-width 64 --g-max-width 512 --d-base-width 64 --steps 50)
  STEPS=300; PHANTOMS=8; SIZE=(128 128 48); BATCH=64; DRILL=(--checkpoint-every 100 --kill-after 200 --more-steps 200)
fi
FAMILY=(--phantoms "$PHANTOMS" --phantom-size "${SIZE[@]}" --held-out 1 --steps "$STEPS" --batch-size "$BATCH"
        --device "$DEVICE" --log-every 50 --snapshot-steps --flip --rotation-deg 10 --scaling 0.1)

part() {  # part NAME COMMAND…: run, keep the log, remember failures
  local name=$1; shift
  [[ " $PARTS " == *" $name "* ]] || return 0
  echo "== $name: $*" | tee "$LOG_DIR/$name.txt"
  "$@" 2>&1 | tee -a "$LOG_DIR/$name.txt"
  local status=${PIPESTATUS[0]}
  [ "$status" = 0 ] || failed+=("$name (status $status)")
}

part environment "$PYTHON" -c "import platform, torch; print(platform.python_version(), 'torch', torch.__version__,
  torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA', torch.get_num_threads(), 'CPU threads')"
devices=(cpu); [ "$DEVICE" = cpu ] || devices=("$DEVICE" cpu)
part inference "$PYTHON" benchmarks/inference_benchmark.py "${VOLUME[@]}" --devices "${devices[@]}"
part inference_unet256 "$PYTHON" benchmarks/inference_benchmark.py "${VOLUME[@]}" --devices "$DEVICE" --network unet256
part training "$PYTHON" benchmarks/training_benchmark.py --device "$DEVICE" "${NETWORK[@]}"
part training_compile "$PYTHON" benchmarks/training_benchmark.py --device "$DEVICE" "${NETWORK[@]}" --compile
part families bash -c "
  $PYTHON -m GANSynthesisTraining cyclegan ${FAMILY[*]} --source mr --run-dir $RUNS/cyclegan &&
  $PYTHON -m GANSynthesisTraining inpainting ${FAMILY[*]} --modality ct --scale-steps $STEPS --calibration 1 \
      --run-dir $RUNS/inpainting &&
  $PYTHON -m GANSynthesisTraining fanogan ${FAMILY[*]} --modality ct --encoder-steps $STEPS --calibration 1 \
      --run-dir $RUNS/fanogan"
part resume "$PYTHON" benchmarks/resume_drill.py --processes 1 --run-dir "$RUNS/drill" "${DRILL[@]}" -- \
  --phantoms "$PHANTOMS" --phantom-size "${SIZE[@]}" --held-out 1 --batch-size "$BATCH" --device "$DEVICE" \
  --log-every 50 --snapshot-steps

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "all parts ran; logs in $LOG_DIR"
