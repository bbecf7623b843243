#!/usr/bin/env bash
# The release's GPU training session: the reproduction study and the fine-tuned shipped models,
# all at once on one GPU (they are small). Run from the repository root:
#   scripts/train_on_gpu.sh DATA_DIR RESULTS_DIR [SECONDS]
# DATA_DIR holds T91, BSD200 and Set5; SECONDS bounds the fine-tunes (default 450).
# Results: RESULTS_DIR/{study,release}.tar.gz and one log per job.
set -u
data=${1:?DATA_DIR}; results=${2:?RESULTS_DIR}; seconds=${3:-450}
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
mkdir -p "$results"
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"

python3 -m srcnn reproduce --data "$data" --out "$work/study" --runs "$work/study/runs" --budget paper \
    --train-only --jobs 6 --device cuda >"$results/study.log" 2>&1 &

for scale in 2 3 4; do
    python3 -m srcnn train --data "$data/T91" "$data/BSD200" --scale "$scale" --out "$work/release/x$scale" \
        --init-from "src/srcnn/models/pretrained/srcnn_9-5-5_x$scale.safetensors" --batch-size 256 --lr 5e-4 \
        --warmup-steps 500 --steps 200000 --time-limit "$seconds" --val-every 1000 --precision fp32 \
        --device cuda --workers 2 --threads 2 --quiet >"$results/x$scale.log" 2>&1 &
done
wait
nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv,noheader
tar -C "$work" -czf "$results/study.tar.gz" study
tar -C "$work" -czf "$results/release.tar.gz" release
ls -la "$results"
