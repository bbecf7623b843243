#!/usr/bin/env bash
# FSRCNN's third GPU round (2026-11-27, one NVIDIA H200): the shipped x3, FSRCNN-s x3 and x2 trained on,
# three runs at once, with the patches cut on the GPU (training.data.DevicePatches). Each run keeps its
# best weights on the validation split held out of the training images (never Set5 / Set14). From the
# repository root:
#   scripts/train_fsrcnn_on_gpu_round3.sh DATA_DIR RESULTS_DIR [SECONDS]
# DATA_DIR holds T91 and BSD200; SECONDS bounds each run (default 165, what ran).
# Results: RESULTS_DIR/runs.tar.gz alone (each run's best weights, checkpoint, log, config, summary
# and console log), so that a tool fetching few files gets everything.
# Memory: seven runs at once ran the 140 GB H200 out of memory, each holding 13-36 GB (cause not
# established; docs/training/fsrcnn_gpu/round3/first_attempt); these three fit (43 GB together).
set -u
data=${1:?DATA_DIR}; results=${2:?RESULTS_DIR}; seconds=${3:-165}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
mkdir -p "$results"
work=$(mktemp -d)
shipped=src/srcnn/models/pretrained
common=(--data "$data/T91" "$data/BSD200" --hr-scales 0.9 0.8 0.7 0.6 --steps 100000000 --time-limit "$seconds"
        --precision fp32 --device cuda --threads 1 --quiet --family fsrcnn --batch-size 512 --warmup-steps 200
        --val-every 3000)
run() {  # NAME ARGS...: one training run in the background, interrupted (its best kept) if it overruns
    local name=$1; shift
    timeout -s INT $((seconds + 35)) python3 -m srcnn train "${common[@]}" --out "$work/$name" "$@" \
        >"$work/$name.log" 2>&1 &
}
run x3 --scale 3 --patch-size 48 --upsampler deconv --init-from $shipped/fsrcnn_x3.safetensors --lr 2e-4
run s --scale 3 --patch-size 48 --dsm 32 5 1 --init-from $shipped/fsrcnn-s_x3.safetensors --lr 5e-4
run x2 --scale 2 --patch-size 40 --init-from $shipped/fsrcnn_x2.safetensors --lr 2e-4
sleep $((seconds / 2)); nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv >"$work/smi.txt"
wait
tar -C "$work" -czf "$results/runs.tar.gz" .
ls -la "$results"
