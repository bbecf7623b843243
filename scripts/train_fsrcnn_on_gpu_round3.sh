#!/usr/bin/env bash
# FSRCNN's third GPU round (2026-11-27): patches cut on the GPU (training.data.DevicePatches), so each
# run draws many times the patches of rounds one and two in the same time. Seven runs at once on one
# GPU: the shipped x2 / x3 / x4 and FSRCNN-s x3 trained on, beside x3 and FSRCNN-s from scratch with
# the paper's transposed convolution; each run keeps its best weights on the validation split held out
# of the training images (never Set5 / Set14). Then the GPU's in-process speed of every shipped x3
# model (benchmarks/realtime.py --device cuda). From the repository root:
#   scripts/train_fsrcnn_on_gpu_round3.sh DATA_DIR RESULTS_DIR [SECONDS]
# DATA_DIR holds T91 and BSD200; SECONDS bounds each run (default 420).
# Results: RESULTS_DIR/runs.tar.gz (each run's best weights, checkpoint, log, config, summary), one
# log per run, gpu.csv (utilisation sampled every 20 s) and gpu_speed.txt.
set -u
data=${1:?DATA_DIR}; results=${2:?RESULTS_DIR}; seconds=${3:-420}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$results"
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
shipped=src/srcnn/pretrained
common=(--data "$data/T91" "$data/BSD200" --hr-scales 0.9 0.8 0.7 0.6 --steps 100000000 --time-limit "$seconds"
        --precision fp32 --device cuda --threads 1 --quiet --family fsrcnn)
limit=$((seconds + 60))  # data loading and the last validation; then the run is interrupted, its best kept
run() {  # NAME ARGS...: one training run in the background
    local name=$1; shift
    timeout -s INT "$limit" python3 -m srcnn train "${common[@]}" --out "$work/$name" "$@" >"$results/$name.log" 2>&1 &
}
x3=(--scale 3 --patch-size 48)
run fsrcnn_x3_lr2e-4 "${x3[@]}" --upsampler deconv --init-from $shipped/fsrcnn_x3.safetensors \
    --batch-size 512 --lr 2e-4 --warmup-steps 200 --val-every 4000
run fsrcnn_x3_lr5e-4 "${x3[@]}" --upsampler deconv --init-from $shipped/fsrcnn_x3.safetensors \
    --batch-size 1024 --lr 5e-4 --warmup-steps 200 --val-every 2000
run fsrcnn_x3_scratch "${x3[@]}" --upsampler deconv --batch-size 512 --lr 1e-3 --warmup-steps 1000 --val-every 4000
run fsrcnn_s_x3 "${x3[@]}" --dsm 32 5 1 --init-from $shipped/fsrcnn-s_x3.safetensors \
    --batch-size 512 --lr 5e-4 --warmup-steps 200 --val-every 4000
run fsrcnn_s_x3_deconv_scratch "${x3[@]}" --dsm 32 5 1 --upsampler deconv --batch-size 512 --lr 1e-3 \
    --warmup-steps 1000 --val-every 4000
run fsrcnn_x2 --scale 2 --patch-size 40 --init-from $shipped/fsrcnn_x2.safetensors \
    --batch-size 512 --lr 2e-4 --warmup-steps 200 --val-every 4000
run fsrcnn_x4 --scale 4 --patch-size 64 --init-from $shipped/fsrcnn_x4.safetensors \
    --batch-size 512 --lr 2e-4 --warmup-steps 200 --val-every 4000
(while sleep 20; do nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader; done) \
    >"$results/gpu.csv" 2>&1 &
sampler=$!
wait $(jobs -p | grep -vx "$sampler")
kill "$sampler"
tar -C "$work" -czf "$results/runs.tar.gz" .
(cd benchmarks && timeout 90 python3 realtime.py --device cuda --repeats 3) >"$results/gpu_speed.txt" 2>&1
ls -la "$results"
