#!/usr/bin/env bash
# Second fine-tuning round of the shipped x3 / x4 models (after scripts/train_on_gpu.sh), with
# down-scaled copies of the HR images as extra training data. Run from the repository root:
#   scripts/finetune_on_gpu.sh DATA_DIR ROUND1_DIR RESULTS_DIR [SECONDS]
# ROUND1_DIR holds x3/best.safetensors and x4/best.safetensors from the first round.
set -u
data=${1:?DATA_DIR}; round1=${2:?ROUND1_DIR}; results=${3:?RESULTS_DIR}; seconds=${4:-240}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$results"
work=$(mktemp -d)
for scale in 3 4; do
    python3 -m srcnn train --data "$data/T91" "$data/BSD200" --scale "$scale" --out "$work/x$scale" \
        --init-from "$round1/x$scale/best.safetensors" --hr-scales 0.9 0.8 0.7 0.6 --batch-size 256 --lr 3e-4 \
        --warmup-steps 300 --steps 200000 --time-limit "$seconds" --val-every 1000 --precision fp32 \
        --device cuda --workers 3 --threads 3 --quiet >"$results/x$scale.log" 2>&1 &
done
wait
tar -C "$work" -czf "$results/round2.tar.gz" .
