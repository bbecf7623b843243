#!/usr/bin/env bash
# FSRCNN's fourth GPU round (2026-11-28, one NVIDIA H200): the shipped x3 and FSRCNN-s x3 fine-tuned on
# larger patches. Why: every FSRCNN layer pads its input (replicate), and the network sees 7 LR pixels
# each side, so on the earlier rounds' 16x16 LR patches (48 HR at x3) only the centre 2x2 had real
# context: nearly every training pixel saw the patch's own border. 32x32 LR patches (96 HR) give a
# third of them real context; the batches shrink so that each step sees as many pixels as before.
# Float32 is true float32 here (no TF32). Each run keeps its best weights on the validation split held
# out of the training images (never Set5 / Set14). From the repository root:
#   scripts/train_fsrcnn_on_gpu_round4.sh DATA_DIR RESULTS_DIR CALL [SECONDS]
# DATA_DIR holds T91 and BSD200. CALL: `first` (what ran first, 380 s a run: x3 on 96- and 144-pixel
# patches, FSRCNN-s on 96) or `second` (what ran next, 270 s a run, after the first call's best x3 (96)
# and FSRCNN-s files were copied over the shipped ones: x3 at two learning rates, FSRCNN-s at a lower
# one). Each run starts from the shipped file of its model. SECONDS bounds each run.
# Results: RESULTS_DIR/runs.tar.gz alone (each run's best weights, log, config, summary, console log).
set -u
data=${1:?DATA_DIR}; results=${2:?RESULTS_DIR}; call=${3:?first or second}
case $call in first) seconds=${4:-380} ;; second) seconds=${4:-270} ;; *) echo "CALL: first or second" >&2; exit 2 ;; esac
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
mkdir -p "$results"
work=$(mktemp -d)
shipped=src/srcnn/models/pretrained
common=(--data "$data/T91" "$data/BSD200" --hr-scales 0.9 0.8 0.7 0.6 --steps 100000000 --time-limit "$seconds"
        --precision fp32 --device cuda --threads 1 --quiet --family fsrcnn --scale 3 --warmup-steps 200
        --val-every 2000)
run() {  # NAME ARGS...: one training run in the background, interrupted (its best kept) if it overruns
    local name=$1; shift
    timeout -s INT $((seconds + 35)) python3 -m srcnn train "${common[@]}" --out "$work/$name" "$@" \
        >"$work/$name.log" 2>&1 &
}
x3=(--upsampler deconv --init-from $shipped/fsrcnn_x3.safetensors)
s=(--dsm 32 5 1 --init-from $shipped/fsrcnn-s_x3.safetensors)
if [ "$call" = first ]; then
    run x3_p96 --patch-size 96 --batch-size 128 "${x3[@]}" --lr 1e-4
    run x3_p144 --patch-size 144 --batch-size 64 "${x3[@]}" --lr 1e-4
    run s_p96 --patch-size 96 --batch-size 128 "${s[@]}" --lr 2e-4
else
    run x3_lr5e-5 --patch-size 96 --batch-size 128 "${x3[@]}" --lr 5e-5
    run x3_lr1e-4 --patch-size 96 --batch-size 128 "${x3[@]}" --lr 1e-4
    run s_lr1e-4 --patch-size 96 --batch-size 128 "${s[@]}" --lr 1e-4
fi
sleep $((seconds / 2)); nvidia-smi --query-gpu=name,utilization.gpu,memory.used --format=csv >"$work/smi.txt"
wait
rm -f "$work"/*/checkpoint.safetensors
tar -C "$work" -czf "$results/runs.tar.gz" .
ls -la "$results"
