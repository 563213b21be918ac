#!/usr/bin/env bash
# Trains, checks and ships the seed architectures one after another (issue 17), each with the
# same CPU budget; a preset that fails do-no-harm is left unshipped (its card in $RUNS).
# Usage: scripts/train_seed_presets.sh [SHARED_DATA_DIR]
set -uo pipefail
for preset in ${PRESETS:-srn mrn mstsgm meddeblur}; do
    echo "=== $preset $(date -Is)"
    PRESET=$preset "$(dirname "$0")/train_shipped_weights.sh" "$@" || echo "=== $preset failed ($?)"
done
echo "=== done $(date -Is)"
