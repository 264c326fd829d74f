#!/usr/bin/env bash
# The prepared GPU session (device tool), in two calls:
#   OUT=/tmp/out bash scripts/gpu_session.sh check   # ~3 min: benches alone on the card, server CUDA paths,
#                                                    # and how fast 24 runs go side by side (calibration)
#   OUT=/tmp/out EPOCHS=N bash scripts/gpu_session.sh sweep   # the recipe sweep and the paper's rows
# Logs and results go to $OUT (session.log, JSON figures, one .tar.gz of run folders per variant).
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} DRSAE_DATA_DIR=$PWD/data DRSAE_NO_DASHBOARD=1
PY=${PY:-python3}
OUT=${OUT:?set OUT}
MODE=${1:?check or sweep}
exec > >(tee -a "$OUT/session-$MODE.log") 2>&1
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
$PY -c "import torch, platform; print('torch', torch.__version__, 'python', platform.python_version(), 'cuda', torch.cuda.is_available())"

if [ "$MODE" = check ]; then
  timeout 60 $PY bench/c_bound_check.py --device cuda
  timeout 60 $PY bench/graph_check.py
  timeout 60 $PY bench/graph_check.py --preset adam
  timeout 120 $PY bench/train_speed.py --device cuda --steps 300 --repeats 3 --out "$OUT/train_speed_cuda.json"
  timeout 120 $PY bench/server_cuda_check.py --model default --out "$OUT/server_cuda_check.json"
  # calibration: every run of the sweep side by side for ~30 s, to size the sweep's epochs
  timeout 150 $PY scripts/gpu_sweep.py --out /tmp/calib --time-limit 30
  for f in /tmp/calib/*/*/metrics.jsonl; do
    echo "$f $($PY -c "import json,sys; r=[json.loads(l) for l in open('$f')]; print([round(x['epoch_seconds'],2) for x in r])")"
  done
  nvidia-smi
elif [ "$MODE" = sweep ]; then
  [ -n "${SKIP_SERVER_CHECK:-}" ] || timeout 60 $PY bench/server_cuda_check.py --model default --out "$OUT/server_cuda_check.json"
  timeout "${SWEEP_TIMEOUT:-540}" $PY scripts/gpu_sweep.py --out runs/sweep --epochs "${EPOCHS:?set EPOCHS}" \
    ${SWEEP_ARGS:-} --time-limit "${TIME_LIMIT:-480}" --pack "$OUT"
fi
ls -la "$OUT"
date -u
