#!/usr/bin/env bash
# FSRCNN's GPU training session: the shipped FSRCNN x2 / x3 / x4 and FSRCNN-s x3, the paper's
# transposed-convolution x3 beside the sub-pixel one (to choose on validation), and a further
# fine-tune of the shipped SRCNN 9-5-5 x4, all at once on one GPU (they are small). From the repository root:
#   scripts/train_fsrcnn_on_gpu.sh DATA_DIR RESULTS_DIR [SECONDS]
# DATA_DIR holds T91 and BSD200; SECONDS bounds each run (default 420). Checkpoints are chosen on
# the validation split held out of the training images (never on Set5 / Set14).
# Results: RESULTS_DIR/runs.tar.gz (each run's best weights, log, config, summary) and one log per run.
set -u
data=${1:?DATA_DIR}; results=${2:?RESULTS_DIR}; seconds=${3:-420}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$results"
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

common=(--data "$data/T91" "$data/BSD200" --hr-scales 0.9 0.8 0.7 0.6 --batch-size 256 --lr 1e-3
        --warmup-steps 500 --steps 1000000 --time-limit "$seconds" --val-every 2000 --precision fp32
        --device cuda --workers 2 --threads 2 --quiet)
# Each run is interrupted (its best weights already on disk) if loading the data took so long that
# it would outlast the session's device time.
limit=$((seconds + 110))
run() {  # NAME ARGS...: one training run in the background
    local name=$1; shift
    timeout -s INT "$limit" python3 -m srcnn train "${common[@]}" --out "$work/$name" "$@" >"$results/$name.log" 2>&1 &
}
run fsrcnn_x2 --family fsrcnn --scale 2 --patch-size 40
run fsrcnn_x3 --family fsrcnn --scale 3 --patch-size 48
run fsrcnn_x4 --family fsrcnn --scale 4 --patch-size 64
run fsrcnn_s_x3 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 48
run fsrcnn_deconv_x3 --family fsrcnn --upsampler deconv --scale 3 --patch-size 48
# The shipped 9-5-5 x4, fine-tuned further (as its card's earlier GPU rounds were), with more HR copies.
timeout -s INT "$limit" python3 -m srcnn train --data "$data/T91" "$data/BSD200" --scale 4 --out "$work/srcnn_x4_round5" \
    --init-from src/srcnn/models/pretrained/srcnn_9-5-5_x4.safetensors --hr-scales 0.9 0.8 0.7 0.6 0.5 0.4 \
    --batch-size 256 --lr 1e-4 --warmup-steps 300 --steps 1000000 --time-limit "$seconds" --val-every 1000 \
    --precision fp32 --device cuda --workers 3 --threads 2 --quiet >"$results/srcnn_x4_round5.log" 2>&1 &
wait
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
tar -C "$work" -czf "$results/runs.tar.gz" --exclude checkpoint.safetensors .
ls -la "$results"
