#!/usr/bin/env bash
# Reproduces resources/midnet-s.safetensors: synthetic pretraining on sharp frames 1-5, then
# the registered real pairs 1-5 in 128-px crops, then in 256-px crops (the CPU inference tile);
# frame 6 is held out for validation throughout.
# Usage: scripts/train_shipped_weights.sh [PAIRS_DIR] (default ../shared/data/midnet-pairs)
set -euo pipefail
pairs=${1:-../shared/data/midnet-pairs}
runs=${RUNS:-runs}
mkdir -p "$runs"
export OMP_WAIT_POLICY=PASSIVE
napari-midnet train --sharp-only "$pairs/sharp" --val frame6 --preset midnet-s \
    --iterations 1000 --seed 1 --checkpoints "$runs/pretrain" --out "$runs/midnet-s-synthetic.safetensors"
napari-midnet train --pairs "$pairs" --val frame6 --init "$runs/midnet-s-synthetic.safetensors" \
    --iterations 4000 --seed 2 --checkpoints "$runs/real" --out "$runs/midnet-s.safetensors"
napari-midnet train --pairs "$pairs" --val frame6 --init "$runs/midnet-s.safetensors" \
    --crop 256 --batch 4 --lr 2e-4 --iterations 2000 --seed 3 --checkpoints "$runs/crop256" \
    --out "$runs/midnet-s-crop256.safetensors"
napari-midnet evaluate --pairs "$pairs" --model "$runs/midnet-s-crop256.safetensors" --wiener --json > "$runs/evaluate.json"
python "$(dirname "$0")/ship_weights.py" "$runs" frame6
