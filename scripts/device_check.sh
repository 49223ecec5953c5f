#!/usr/bin/env bash
# The device check (benchmarks/device_check.py): throughput of fit eager / compiled / captured on
# gresnet56 at batch 128, 512 and 1024, fused groups of 1-16 members, one complete paper run
# (Fig 8b TBS 512) beside Smith's log, the projected wall time of all of `paper`, and the plan at
# that measured rate. Under 9 minutes on one H200; on a CPU the GPU parts are skipped, each with a
# one-line reason. Writes device.txt, device_check.log, device_check.json, plan.txt and the paper
# run's metrics under $OUT.
#
# CIFAR-10 must travel with the tree: `mkdir -p data && cp ../shared/data/cifar10-jpeg.tar.gz
# data/` (data/ is git-ignored). Run from the repository root:  OUT=/tmp/out bash scripts/device_check.sh
set -uo pipefail
OUT="${OUT:-build/device_check}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export PAPERLIB_DATA="${PAPERLIB_DATA:-$PWD/data}"
export PAPERLIB_CACHE="${PAPERLIB_CACHE:-/tmp/paperlib-cache}"
PY="${PY:-python3}"
[ -x .venv/bin/python ] && [ "$PY" = python3 ] && PY=.venv/bin/python
{ command -v nvidia-smi >/dev/null && nvidia-smi || echo "no nvidia-smi: no CUDA GPU here"
  "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
  lscpu | head -20; } > "$OUT/device.txt" 2>&1
timeout 540 "$PY" benchmarks/device_check.py --out "$OUT" --data "$PAPERLIB_DATA" "$@"
rc=$?
echo "device_check.py exit status $rc" | tee -a "$OUT/device_check.log"
# Last, the plan at the rate just measured (each figure's projected seconds over its training
# images), in place of the 55,000 images/s it assumes until then: runs per curve, their hours, and
# what 24 GPU-hours decide. Into plan.txt beside the rest; a check that did not get as far as its
# projection says so in one line.
"$PY" -m paperlib plan --profile paper --budget-hours 24 --rate-from "$OUT/device_check.json" \
  2>&1 | tee "$OUT/plan.txt"
exit $rc
