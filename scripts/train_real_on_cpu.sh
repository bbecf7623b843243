#!/usr/bin/env bash
# CPU training of the issue-14 models (no GPU lent): the blind denoiser and JPEG-artefact remover
# (scale 1, AR-CNN's 9-7-1-5 depth with a global skip), then the real-world x2/x3/x4 models
# fine-tuned from the shipped clean ones on the `real` chain. Two runs at once, one torch thread each
# (on 2 cores that beats one run on two threads). Resumable: rerun the same command to continue.
#   scripts/train_real_on_cpu.sh DATA_DIR RUNS_DIR STAGE [SECONDS]   (training seconds a run, default 1200)
# STAGE (each runs two trainings at once):
#   restore:   the denoiser from scratch, and the JPEG remover started from the denoiser's weights
#              (AR-CNN's transfer; from scratch its ReLUs died within 1,000 steps at lr 1e-3).
#              Needs RUNS_DIR/denoise_start.safetensors: an early best.safetensors of the denoiser.
#   real-a:    FSRCNN real x3 and x2, fine-tuned from the shipped clean FSRCNNs on the `real` chain.
#   real-b:    FSRCNN real x4 and the 9-5-5 real x3, the same way.
#   restore-deep: the denoiser as a 12-layer 3x3 network, 64 filters each, with the global skip
#              (DnCNN's depth without its batch norm), from scratch.
#   restore-deep-2: a second round of the deep denoiser, a fresh cosine from lr 2e-4 started from
#              RUNS_DIR/denoise_deep/best.safetensors (its validation was still rising when round one ended).
#   restore-deep-3: a third round of the deep denoiser from round two's best, lr 1e-4 (round two gained
#              0.13 dB at sigma 25 and its validation was still rising; single-pass sigma 25 was 0.04 dB short
#              of issue 14's "within 0.3 dB of BM3D").
#   fsrcnn-x2: the shipped clean FSRCNN x2 (two GPU rounds) trained on at lr 3e-5 on the CPU, batch 64, in
#              fp32 as on the GPU (at x2's 32.76 dB, bf16 steps lost validation): its Set5 x2 was 0.01 dB below
#              FSRCNN's published number (issue 13). Kept only if validation rises.
#   fsrcnn-x3: the shipped clean FSRCNN x3 (deconv, two GPU rounds; Set5 x3 0.13 dB under FSRCNN's
#              published number, issue 13) trained on in fp32 on the CPU, batch 64, at two learning rates
#              (5e-5 and 1.5e-4, a fresh cosine each); the better on validation is kept, and only if it rises.
#              (Shipped at 1.5e-4. The real-a and real-cascade stages below ran before it, from the GPU-round
#              file, commit 9724718; rerun now, they start from the file this stage made.)
#   fsrcnn-cpu-4: after the third GPU round (H200, 2026-11-27): the shipped FSRCNN x3 and FSRCNN-s x3
#              trained on in fp32 on the CPU, batch 64, a fresh cosine from lr 1e-4 (x3) and 2e-4 (FSRCNN-s);
#              each is kept only if validation rises (issue 13: Set5 x3 0.08 dB, FSRCNN-s 0.15 dB short).
#   fsrcnn-cpu-5: after the fourth GPU round (H200, 2026-11-28, scripts/train_fsrcnn_on_gpu_round4.sh and
#              its second call), which moved to 96-pixel patches (32 LR pixels: a third of each patch with
#              real context): the shipped x3 and FSRCNN-s x3 trained on likewise on the CPU, a fresh cosine
#              each: x3 from lr 2e-5 at batch 32 (tried first at 5e-5 and batch 16, the pixels of 64 48-pixel
#              patches: validation fell 0.01 dB in its first 3000 steps, so it was stopped), FSRCNN-s from
#              1e-4 at batch 16.
#   fsrcnn-cpu-6: FSRCNN-s once more from its shipped file (round five's best), at four times the batch
#              and half the lr: round five's validation had flattened at 29.305-29.307 under lr 1e-4, batch 16.
#              Not shipped: its best, 29.3074 dB (step 11,000 of 42,792, 90 minutes on one thread of an
#              AVX2-only AMD EPYC), stays below round five's 29.3083 (logs: docs/training/fsrcnn_cpu6).
#   fsrcnn-cpu-7: FSRCNN-s once more from its shipped file (round five's best) with round five's recipe (lr 1e-4,
#              batch 16, 96-pixel patches) and an exponential moving average of the weights (--ema 0.9995: about
#              2,000 steps), which is what is validated and kept: rounds five and six flattened at 29.305-29.307 dB
#              of validation, varying by about 0.003 dB between checks. The schedule runs on 250,000 steps, not
#              wall time (SECONDS only caps it), so pausing the run does not change it. (Its stages 7, 7b and 7c ran
#              from round five's file; 7c's best now ships, so rerun now they start from that.)
#   fsrcnn-cpu-7b: beside it on the other core, the same from the same file but with the L1 loss (which
#              EDSR found to reach a higher PSNR than MSE), on a 180,000-step schedule. Stopped at step 9,000:
#              validation fell from 29.3105 (step 1,000) to 29.2911 as the weights left the MSE optimum.
#   fsrcnn-cpu-7c: in its place, MSE with --interior-loss (only the pixels whose receptive field lies inside
#              the patch are scored, so no capacity goes to the replicated context at patch edges) on
#              120-pixel patches (72 scored), with the same moving average, on a 140,000-step schedule.
#              Shipped: its best, 29.3115 dB at step 95,500 (stage 7's best: 29.3110; docs/training/fsrcnn_cpu7).
#   fsrcnn-cpu-8: FSRCNN-s distilled from the shipped FSRCNN x3 (--teacher FSRCNN_X3: every target is blended
#              with the teacher's output, weight 0.5 and 0.8, one run on each core), from the shipped FSRCNN-s
#              (7c's best) with 7c's recipe on a 90,000-step schedule: rounds five to seven flattened at
#              29.305-29.3115 dB of validation on the HR targets alone.
#   fsrcnn-cpu-9: a ninth round for FSRCNN-s from the shipped file (round eight's W = 0.5 best), the same
#              teacher and weight at half the learning rate, with a slower moving average: batch 32 on a
#              28,000-step schedule beside batch 16 on 60,000 (round eight's lr 1e-4 flattened at 29.314 dB).
#              Not shipped: best 29.3139 and 29.3145 dB of validation against the shipped 29.3142.
#   real-cascade: the real-world x3 model as a cascade (--restorer): the deep denoiser cleans the LR
#              image, the shipped clean FSRCNN x3 up-scales it, both trained on together on the `real`
#              chain. One network alone traded clean quality against degraded quality. (The shipped
#              CASCADE_REAL_X3 started from the denoiser's first round, the file at commit 7a43902.)
#   real-cascade-2: its second round, from its best weights: lr 1e-4 on a mixture that weighs the `real`
#              chain, JPEG-only and clean inputs a third each (round one's JPEG-q75 gain stayed flat).
#   real-cascade-3: a third round from round two's best (round two stopped at its step 12,000 and kept
#              step 10,000; clean and noisy inputs had margin, JPEG-q75 did not): lr 7e-5, JPEG-only inputs weighed double
#              (the `real` chain a quarter, JPEG-only a half, clean a quarter).
#   jpeg-deep: the JPEG remover, the same network, started from RUNS_DIR/denoise_deep_start.safetensors
#              (the deep denoiser's best weights at its step 3000). From scratch, its loss stalled from
#              step 1000 on and at step 2750 it scored below the shipped 9-7-1-5 at quality 10.
# Checkpoints are chosen on the validation split held out of the training images (never Set5/Set14).
set -u
data=${1:?DATA_DIR}; runs=${2:?RUNS_DIR}; stage=${3:?STAGE}; seconds=${4:-1200}
export PYTHONUNBUFFERED=1
mkdir -p "$runs"
common=(--data "$data/T91" "$data/BSD200" --hr-scales 0.9 0.8 0.7 0.6 --steps 1000000
        --time-limit "$seconds" --val-every 500 --precision auto --threads 1 --quiet)
run() {  # NAME ARGS...: one training run in the background, resumed if its folder exists
    local name=$1; shift
    local resume=(); [ -f "$runs/$name/config.json" ] && resume=(--resume)
    srcnn train "${common[@]}" --out "$runs/$name" "${resume[@]}" "$@" >>"$runs/$name.log" 2>&1 &
}
pre=src/srcnn/models/pretrained
# The deep restorers' network and schedule (stages restore-deep and jpeg-deep).
deep=(--scale 1 --arch 3-3-3-3-3-3-3-3-3-3-3-3 --n1 64 --n2 64 --residual --patch-size 64
      --batch-size 32 --lr 5e-4 --warmup-steps 500 --val-every 250)
case $stage in
  restore)
    run denoise --scale 1 --arch 9-7-1-5 --n1 64 --n2 32 --residual --degradation noise:0-50 --patch-size 40
    run jpeg --scale 1 --arch 9-7-1-5 --n1 64 --n2 32 --residual --degradation jpeg:5-90 --patch-size 40 \
        --init-from "$runs/denoise_start.safetensors" --lr 5e-4 ;;
  real-a)
    run fsrcnn_real_x3 --family fsrcnn --upsampler deconv --scale 3 --patch-size 48 --degradation real \
        --init-from $pre/fsrcnn_x3.safetensors --lr 3e-4 --warmup-steps 100
    run fsrcnn_real_x2 --family fsrcnn --scale 2 --patch-size 40 --degradation real \
        --init-from $pre/fsrcnn_x2.safetensors --lr 3e-4 --warmup-steps 100 ;;
  real-b)
    run srcnn_real_x3 --scale 3 --degradation real --init-from $pre/srcnn_9-5-5_x3.safetensors \
        --lr 3e-4 --warmup-steps 100
    run fsrcnn_real_x4 --family fsrcnn --scale 4 --patch-size 64 --degradation real \
        --init-from $pre/fsrcnn_x4.safetensors --lr 3e-4 --warmup-steps 100 ;;
  restore-deep)
    run denoise_deep "${deep[@]}" --degradation noise:0-50 ;;
  restore-deep-2)
    run denoise_deep_2 "${deep[@]}" --degradation noise:0-50 --init-from "$runs/denoise_deep/best.safetensors" \
        --lr 2e-4 --warmup-steps 200 ;;
  restore-deep-3)
    run denoise_deep_3 "${deep[@]}" --degradation noise:0-50 --init-from "$runs/denoise_deep_2/best.safetensors" \
        --lr 1e-4 --warmup-steps 100 ;;
  fsrcnn-x2)
    run fsrcnn_x2_cpu --family fsrcnn --scale 2 --patch-size 40 --batch-size 64 \
        --init-from $pre/fsrcnn_x2.safetensors --lr 3e-5 --warmup-steps 100 --precision fp32 ;;
  fsrcnn-x3)
    for lr in 5e-5 1.5e-4; do
      run fsrcnn_x3_cpu_lr$lr --family fsrcnn --upsampler deconv --scale 3 --patch-size 48 --batch-size 64 \
          --init-from $pre/fsrcnn_x3.safetensors --lr $lr --warmup-steps 100 --precision fp32
    done ;;
  fsrcnn-cpu-4)
    run fsrcnn_x3_cpu4 --family fsrcnn --upsampler deconv --scale 3 --patch-size 48 --batch-size 64 \
        --init-from $pre/fsrcnn_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32
    run fsrcnn_s_x3_cpu4 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 48 --batch-size 64 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 2e-4 --warmup-steps 100 --precision fp32 ;;
  fsrcnn-cpu-5)
    run fsrcnn_x3_cpu5 --family fsrcnn --upsampler deconv --scale 3 --patch-size 96 --batch-size 32 \
        --init-from $pre/fsrcnn_x3.safetensors --lr 2e-5 --warmup-steps 100 --precision fp32
    run fsrcnn_s_x3_cpu5 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 96 --batch-size 16 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32 ;;
  fsrcnn-cpu-6)
    run fsrcnn_s_x3_cpu6 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 96 --batch-size 64 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 5e-5 --warmup-steps 100 --precision fp32 ;;
  fsrcnn-cpu-7)
    run fsrcnn_s_x3_cpu7 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 96 --batch-size 16 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 \
        --steps 250000 ;;
  fsrcnn-cpu-7b)
    run fsrcnn_s_x3_cpu7_l1 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 96 --batch-size 16 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 \
        --loss l1 --steps 180000 ;;
  fsrcnn-cpu-7c)
    run fsrcnn_s_x3_cpu7_interior --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 120 --batch-size 16 \
        --init-from $pre/fsrcnn-s_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 \
        --interior-loss --steps 140000 ;;
  fsrcnn-cpu-8)
    for w in 0.5 0.8; do
      run fsrcnn_s_x3_cpu8_kd$w --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 120 --batch-size 16 \
          --init-from $pre/fsrcnn-s_x3.safetensors --lr 1e-4 --warmup-steps 100 --precision fp32 --ema 0.9995 \
          --interior-loss --teacher FSRCNN_X3 --teacher-weight $w --steps 90000
    done ;;
  fsrcnn-cpu-9)
    for spec in "32 28000" "16 60000"; do
      set -- $spec
      run fsrcnn_s_x3_cpu9_b$1 --family fsrcnn --dsm 32 5 1 --scale 3 --patch-size 120 --batch-size $1 \
          --init-from $pre/fsrcnn-s_x3.safetensors --lr 5e-5 --warmup-steps 100 --precision fp32 --ema 0.9998 \
          --interior-loss --teacher FSRCNN_X3 --teacher-weight 0.5 --steps $2
    done ;;
  real-cascade)
    run real_cascade_x3 --family fsrcnn --upsampler deconv --scale 3 --patch-size 96 --batch-size 16 \
        --degradation real --restorer $pre/denoise_3x12.safetensors --init-from $pre/fsrcnn_x3.safetensors \
        --lr 2e-4 --warmup-steps 200 ;;
  real-cascade-2)
    run real_cascade_x3_2 --family fsrcnn --upsampler deconv --scale 3 --patch-size 96 --batch-size 16 \
        --degradation real+jpeg:40-95+bicubic --restorer "$runs/real_cascade_x3/best.safetensors" \
        --init-from "$runs/real_cascade_x3/best.safetensors" --lr 1e-4 --warmup-steps 100 ;;
  real-cascade-3)
    run real_cascade_x3_3 --family fsrcnn --upsampler deconv --scale 3 --patch-size 96 --batch-size 16 \
        --degradation real+jpeg:40-95+jpeg:40-95+bicubic --restorer "$runs/real_cascade_x3_2/best.safetensors" \
        --init-from "$runs/real_cascade_x3_2/best.safetensors" --lr 7e-5 --warmup-steps 100 ;;
  jpeg-deep)
    run jpeg_deep "${deep[@]}" --degradation jpeg:5-90 --init-from "$runs/denoise_deep_start.safetensors" ;;
  *) echo "unknown stage $stage: restore, real-a, real-b, restore-deep, restore-deep-2, restore-deep-3, fsrcnn-x2, fsrcnn-x3, fsrcnn-cpu-4, fsrcnn-cpu-5, fsrcnn-cpu-6, fsrcnn-cpu-7, fsrcnn-cpu-7b, fsrcnn-cpu-7c, fsrcnn-cpu-8, fsrcnn-cpu-9, real-cascade, real-cascade-2, real-cascade-3 or jpeg-deep" >&2; exit 2 ;;
esac
wait
