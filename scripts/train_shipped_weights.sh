#!/usr/bin/env bash
# Reproduces resources/midnet-s.safetensors, the blind default model (issue 10), from scratch on CPU.
# Data: the simulator on 72 real sharp SEM images from four instruments/sources (sem-sharp, minus
# the held-out deepsem-nanowires source) and on the sharp JEOL frames, plus the registered real
# JEOL pairs as a quarter of every batch. Held out throughout, for the checks in
# scripts/check_blind_model.py: JEOL frames 4 and 6 (pairs and sharp frames) and deepsem-nanowires.
# Resumable: re-running it continues from runs/blind/checkpoint.pt.
# Usage: scripts/train_shipped_weights.sh [SHARED_DATA_DIR] (default ../shared/data)
set -euo pipefail
data=${1:-../shared/data}
runs=${RUNS:-runs}
iterations=${ITERATIONS:-6000}
mkdir -p "$runs/blind"
export OMP_WAIT_POLICY=PASSIVE
resume=()
[ -f "$runs/blind/checkpoint.pt" ] && resume=(--resume "$runs/blind/checkpoint.pt")
sharp_only=()
for source in nasa-micronet-sem sem2surface-nova450 fibresem-zeiss-auriga openfibsem-helios-pfib; do
    sharp_only+=(--sharp-only "$data/sem-sharp/$source")
done
napari-midnet train --preset midnet-s --pairs "$data/midnet-pairs" --sharp-only "$data/midnet-pairs/sharp" \
    "${sharp_only[@]}" --val frame4 frame6 --real-fraction 0.25 --crop 128 --batch 8 --lr 1e-3 \
    --iterations "$iterations" --seed 10 --checkpoints "$runs/blind" "${resume[@]}" \
    --out "$runs/midnet-s-blind.safetensors"
python "$(dirname "$0")/check_blind_model.py" --model "$runs/midnet-s-blind.safetensors" --data "$data" \
    --json "$runs/checks.json"
python "$(dirname "$0")/calibrate_simulator.py" "$data/midnet-pairs" --json > "$runs/calibration.json"
python "$(dirname "$0")/ship_weights.py" "$runs" "$runs/calibration.json"
