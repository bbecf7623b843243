#!/usr/bin/env bash
# Second round after scripts/train_fsrcnn_on_gpu.sh: each run continues from the first round's best
# weights with a lower learning rate and a fresh warm-up + cosine. From the repository root:
#   scripts/finetune_fsrcnn_on_gpu.sh DATA_DIR ROUND1_DIR RESULTS_DIR [SECONDS]
# ROUND1_DIR holds NAME.safetensors for each run below (the first round's best.safetensors).
set -u
data=${1:?DATA_DIR}; round1=${2:?ROUND1_DIR}; results=${3:?RESULTS_DIR}; seconds=${4:-210}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$results"
work=$(mktemp -d)
limit=$((seconds + 80))
run() {  # NAME LR ARGS...: one fine-tuning run in the background
    local name=$1 lr=$2; shift 2
    timeout -s INT "$limit" python3 -m srcnn train --data "$data/T91" "$data/BSD200" --init-from "$round1/$name.safetensors" \
        --batch-size 256 --lr "$lr" --warmup-steps 200 --steps 1000000 --time-limit "$seconds" --val-every 1000 \
        --precision fp32 --device cuda --workers 2 --threads 2 --quiet --out "$work/$name" "$@" \
        >"$results/$name.log" 2>&1 &
}
fsrcnn=(--family fsrcnn --hr-scales 0.9 0.8 0.7 0.6)
run fsrcnn_x2 3e-4 "${fsrcnn[@]}" --scale 2 --patch-size 40
run fsrcnn_x3 3e-4 "${fsrcnn[@]}" --scale 3 --patch-size 48
run fsrcnn_deconv_x3 3e-4 "${fsrcnn[@]}" --upsampler deconv --scale 3 --patch-size 48
run fsrcnn_s_x3 3e-4 "${fsrcnn[@]}" --dsm 32 5 1 --scale 3 --patch-size 48
run fsrcnn_x4 3e-4 "${fsrcnn[@]}" --scale 4 --patch-size 64
run srcnn_x4_round5 5e-5 --scale 4 --hr-scales 0.9 0.8 0.7 0.6 0.5 0.4
wait
tar -C "$work" -czf "$results/runs.tar.gz" --exclude checkpoint.safetensors .
ls -la "$results"
