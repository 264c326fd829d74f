#!/usr/bin/env bash
# The prepared GPU session (device tool), in two calls; test both on the CPU first with DEVICE=cpu TINY=1.
#   OUT=/tmp/out bash scripts/gpu_session.sh check   # ~2 min: the graphed population equals the eager one,
#                                                    # C stays bounded, population and single-run speed
#   OUT=/tmp/out bash scripts/gpu_session.sh runs    # the accuracy runs as populations, resumable: the authors'
#                                                    # recipe (3 shapes x 2 seeds) and the small-minibatch probes
# Logs and figures go to $OUT (session-<mode>.log, JSON); the run folders stay under $RUNS (default runs/; resume
# with the same command: a sweep folder that exists is resumed). TIME_LIMIT (s, default 480) caps the runs.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} DRSAE_DATA_DIR=$PWD/data
PY=${PY:-python3}
OUT=${OUT:?set OUT}
MODE=${1:?check or runs}
DEVICE=${DEVICE:-cuda}
RUNS=${RUNS:-runs}  # a CPU dry run (TINY=1) should name a scratch folder here
exec > >(tee -a "$OUT/session-$MODE.log") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$PY -c "import torch, platform; print('torch', torch.__version__, 'python', platform.python_version(), 'cuda', torch.cuda.is_available())"
small=()
[ -n "${TINY:-}" ] && small=(--hidden 16 --train-limit 500 --eval-limit 200 --unsup-epochs 1 --epochs 1)

sweep() {  # sweep NAME ARGS...: train (or resume) runs/NAME as populations, within the time left
  local name=$1; shift
  local left=$(( ${TIME_LIMIT:-480} - SECONDS ))
  [ "$left" -gt 30 ] || { echo "no time left for $name"; return; }
  if [ -f "$RUNS/$name/sweep.json" ]; then
    timeout "$left" $PY -m model.train --resume --no-progress --out "$RUNS/$name"
  else
    timeout "$left" $PY -m model.train "$@" --device "$DEVICE" --no-progress --out "$RUNS/$name"
  fi
}

if [ "$MODE" = check ]; then
  timeout 90 $PY bench/graph_check.py --device "$DEVICE" --population 4 ${TINY:+--steps 3}
  timeout 60 $PY bench/c_bound_check.py --device "$DEVICE"
  timeout 120 $PY bench/population_speed.py --device "$DEVICE" --population 24 --out "$OUT/population_speed_cuda.json" \
    ${TINY:+--hidden 16 --steps 5 --repeats 2}
  timeout 120 $PY bench/train_speed.py --device "$DEVICE" --steps 300 --repeats 3 --out "$OUT/train_speed_cuda.json" \
    ${TINY:+--hidden 16 --steps 5 --repeats 2}
elif [ "$MODE" = runs ]; then
  SECONDS=0
  sweep paper-400x11 --preset paper --seeds 0,1 "${small[@]}" &
  sweep paper-200x11 --preset paper --hidden 200 --seeds 0,1 "${small[@]}" &
  sweep paper-200x2 --preset paper --hidden 200 --T 2 --e-bound 0.3125 --seeds 0,1 "${small[@]}" &
  sweep probes-b20 --preset faithful --batch-size 20 --lr 0.01,0.02 --warmup-steps 5000 --seeds 0,1 "${small[@]}" &
  wait
  for f in "$RUNS"/*/sweep.json; do echo "$f"; done
fi
ls -la "$OUT"
date -u
