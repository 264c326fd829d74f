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
# name | dataset | arguments. All share the one GPU (time-sliced); epochs are sized so the total work,
# at about 0.4 s per graphed 400-unit epoch on an H100, fits BUDGET; --time-limit is the safety net.
RUNS=(
  "h400_t11|mnist|--hidden 400 --T 11 --unsup-epochs 10 --epochs 120 --seed 0"
  "h400_t11_sgd|mnist|--preset paper --batch-size 100 --lr 1e-3 --project-every 1 --unsup-epochs 20 --epochs 150 --seed 0"
  "h400_t11_sgd2|mnist|--preset paper --batch-size 100 --lr 2e-3 --project-every 1 --unsup-epochs 20 --epochs 150 --seed 0"
  "h200_t11|mnist|--hidden 200 --T 11 --unsup-epochs 10 --epochs 120 --seed 0"
  "h200_t11_sgd|mnist|--preset paper --hidden 200 --batch-size 100 --lr 1e-3 --project-every 1 --unsup-epochs 20 --epochs 150 --seed 0"
  "h200_t2|mnist|--hidden 200 --T 2 --e-bound 0.3125 --unsup-epochs 10 --epochs 120 --seed 0"
  "h200_t2_sgd|mnist|--preset paper --hidden 200 --T 2 --e-bound 0.3125 --batch-size 100 --lr 1e-3 --project-every 1 --unsup-epochs 20 --epochs 150 --seed 0"
  "fashion_h400_t11|fashion-mnist|--hidden 400 --T 11 --unsup-epochs 5 --epochs 45 --seed 0"
)
mkdir -p runs/gpu
for spec in "${RUNS[@]}"; do
  IFS='|' read -r name ds args <<< "$spec"
  case "$args" in --preset*) pre="" ;; *) pre="--preset fast" ;; esac
  cmd="$PY -m model.train $pre --dataset $ds $args ${EXTRA:-} --device $DEVICE --time-limit $BUDGET --no-progress --out runs/gpu/$name"
  echo "$cmd"
  (timeout $((BUDGET + 40)) $cmd > "runs/gpu/$name.log" 2>&1; echo "$name exit $?" >> "runs/gpu/$name.log") &
done
wait
for spec in "${RUNS[@]}"; do
  name=${spec%%|*}
  echo "== $name"; grep -E "^epoch" "runs/gpu/$name.log" | tail -3; grep -vE "^epoch" "runs/gpu/$name.log" | tail -5
  cp "runs/gpu/$name.log" "runs/gpu/$name/train.log" 2>/dev/null
done
# two archives (the file limit is 8 files of 16 MiB each)
(cd runs/gpu && tar czf "$OUT/runs_h400.tar.gz" --exclude state.pt h400_t11 h400_t11_sgd h400_t11_sgd2)
(cd runs/gpu && tar czf "$OUT/runs_rest.tar.gz" --exclude state.pt h200_t11 h200_t11_sgd h200_t2 h200_t2_sgd fashion_h400_t11)
ls -la "$OUT"
date -u
