#!/usr/bin/env bash
# GPU check for one H200, at most ~6 minutes, everything it writes under $OUT:
#   1. the throughput benchmark on CUDA: resnet56 at batch 512 and 1024, eager and compiled;
#   2. a small-profile LR range test and 1cycle run on CIFAR-10 on the GPU.
# The data must travel with the tree: copy cifar10-jpeg.tar.gz into data/ (git-ignored) and pass
# `data` in the device tool's `carry`. Run from the repository root:
#   OUT=/tmp/out bash scripts/device_check.sh
set -uo pipefail
OUT="${OUT:-build/device_check}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PAPERLIB_DATA="${PAPERLIB_DATA:-$PWD/data}"
export PAPERLIB_CACHE="${PAPERLIB_CACHE:-/tmp/paperlib-cache}"
PY="${PY:-python3}"
log() { echo "[$(date -u +%H:%M:%S)] $*" | tee -a "$OUT/device_check.log"; }

log "start"
{ nvidia-smi; "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"; } \
    > "$OUT/device.txt" 2>&1
log "decode CIFAR-10 into the cache"
timeout 60 "$PY" -c "from paperlib.data import load_split; print(len(load_split('cifar10','train').labels))" \
    >> "$OUT/device_check.log" 2>&1

for bs in 512 1024; do
  for mode in eager compiled; do
    # compiling the textbook loop too would only add minutes of compile time
    flag=""; methods="fit,bare,textbook"
    [ "$mode" = compiled ] && flag="--compile" && methods="fit,bare"
    log "benchmark resnet56 batch $bs $mode"
    timeout 100 "$PY" benchmarks/throughput.py --device cuda --model resnet56 --batch-size "$bs" \
        --workers 8 --repeats 3 --methods "$methods" $flag \
        > "$OUT/throughput_resnet56_bs${bs}_${mode}.txt" 2>&1 || log "  exit $? (see the file)"
    tail -n 1 "$OUT/throughput_resnet56_bs${bs}_${mode}.txt" | tee -a "$OUT/device_check.log"
  done
done

# Several small runs on one GPU: do 2 or 4 processes at once get more images/s in total than one?
# (the 4 seeds of a curve and the points of a weight-decay grid are such runs)
for n in 1 2 4; do
  log "concurrency: $n fit-only processes at once (resnet56, batch 512)"
  for i in $(seq "$n"); do
    timeout 90 "$PY" benchmarks/throughput.py --device cuda --model resnet56 --batch-size 512 \
        --methods fit --repeats 3 > "$OUT/concurrent_${n}_${i}.txt" 2>&1 &
  done
  wait
  tail -q -n 1 "$OUT"/concurrent_"${n}"_*.txt | tee -a "$OUT/device_check.log"
done

log "small profile on the GPU: range test and 1cycle (resnet56, full CIFAR-10)"
timeout 60 "$PY" -m paperlib lr-find --dataset cifar10 --model resnet56 --batch-size 512 \
    --steps 400 --eval-every 20 --lr-min 0.05 --lr-max 3 --weight-decay 1e-4 --device cuda \
    --test-subset 6400 --out "$OUT/lr_find" --overwrite >> "$OUT/device_check.log" 2>&1 \
    || log "  lr-find exit $?"
timeout 100 "$PY" -m paperlib train --dataset cifar10 --model resnet56 --batch-size 512 \
    --steps 1960 --eval-every 196 --schedule one-cycle --style smith --lr-min 0.08 --lr-max 0.8 \
    --step-size 850 --mom-max 0.95 --mom-min 0.85 --weight-decay 1e-4 --device cuda \
    --out "$OUT/one_cycle" --overwrite >> "$OUT/device_check.log" 2>&1 || log "  train exit $?"
log "done"
