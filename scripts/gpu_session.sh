#!/usr/bin/env bash
# One prepared GPU session (device tool): graph check, speed benchmark, then the reproduction runs in
# parallel on the one GPU, each sized from the measured epoch time to fit the budget.
#   BUDGET=380 OUT=/tmp/out bash scripts/gpu_session.sh
# Writes into $OUT: session.log, train_speed_cuda.json, run_<name>.tar.gz (weights, config, metrics).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD DRSAE_DATA_DIR=$PWD/data
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
BUDGET=${BUDGET:-380}          # seconds for the training runs, all in parallel
STEPS=${STEPS:-500}
OUT=${OUT:?set OUT}
exec > >(tee -a "$OUT/session.log") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$PY -c "import torch, platform; print('torch', torch.__version__, 'python', platform.python_version(), 'cuda', torch.cuda.is_available())"

if [ "$DEVICE" = cuda ]; then timeout 120 $PY bench/graph_check.py --steps 50; fi
timeout 180 $PY bench/train_speed.py --device "$DEVICE" --steps "$STEPS" --repeats 2 --out "$OUT/train_speed_$DEVICE.json"
EPOCH=$($PY -c "import json;print(json.load(open('$OUT/train_speed_$DEVICE.json'))['ours_epoch_seconds'])")
# name hidden T dataset extra-args; 5 runs share the GPU, plus ~15% for evaluation
RUNS=(
  "h400_t11 400 11 mnist --seed 0"
  "h400_t11_s1 400 11 mnist --seed 1 --lr 2e-3"
  "h200_t11 200 11 mnist --seed 0"
  "h200_t2 200 2 mnist --seed 0 --e-bound 0.3125"
  "fashion_h400_t11 400 11 fashion-mnist --seed 0"
)
N=${#RUNS[@]}
EPOCHS=$($PY -c "print(max(4, min(${MAX_EPOCHS:-300}, int($BUDGET / ($EPOCH * $N * 1.2)))))")
UNSUP=$($PY -c "print(max(1, min(10, $EPOCHS // 10)))")
echo "graphed epoch ${EPOCH}s alone -> $UNSUP unsupervised + $((EPOCHS - UNSUP)) supervised epochs per run"
mkdir -p runs/gpu
for spec in "${RUNS[@]}"; do
  set -- $spec; name=$1 hidden=$2 T=$3 ds=$4; shift 4
  cmd="$PY -m model.train --preset fast --dataset $ds --hidden $hidden --T $T --unsup-epochs $UNSUP --epochs $((EPOCHS - UNSUP)) --device $DEVICE --time-limit $BUDGET --no-progress --out runs/gpu/$name $*"
  echo "$cmd"
  (timeout $((BUDGET + 60)) $cmd > "runs/gpu/$name.log" 2>&1; echo "$name exit $?" >> runs/gpu/$name.log) &
done
wait
for spec in "${RUNS[@]}"; do
  set -- $spec; name=$1
  echo "== $name"; grep -E "^epoch" "runs/gpu/$name.log" | tail -3; grep -vE "^epoch" "runs/gpu/$name.log" | tail -5
  cp "runs/gpu/$name.log" "runs/gpu/$name/train.log" 2>/dev/null
  tar czf "$OUT/run_$name.tar.gz" -C runs/gpu --exclude state.pt "$name"
done
date -u
