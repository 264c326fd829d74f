#!/usr/bin/env bash
# Set up a fresh machine for DrSAE Explorer: a virtual environment in .venv, PyTorch first (the CPU wheel
# this machine ships on local disk; a bare torch requirement would pull a multi-GB CUDA build), then the
# project, then the datasets. Idempotent: a second run only checks.
#   bash scripts/setup.sh          # the app
#   bash scripts/setup.sh --dev    # the app + test tools + what the browser tests need (chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0
[ "${1:-}" = "--dev" ] && DEV=1
PY=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
apt_install() {  # Debian packages: Fashion-MNIST's IDX files, and Chromium for the browser tests
  command -v apt-get >/dev/null || { echo "note: no apt-get; install $* yourself" >&2; return 1; }
  as_root apt-get update -qq >/dev/null && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

[ -x .venv/bin/python ] || "$PY" -m venv .venv
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "installing $TORCH_SPEC"
  .venv/bin/pip install -q "$TORCH_SPEC"
fi
extras=""
[ $DEV = 1 ] && extras="[dev]"
.venv/bin/pip install -q -e ".$extras"

[ -d /usr/share/datasets/fashion-mnist ] || apt_install dataset-fashion-mnist || true
if [ $DEV = 1 ] && [ ! -x /usr/bin/chromium ]; then apt_install chromium || true; fi

.venv/bin/python -m model.data fetch mnist
.venv/bin/python -m model.data fetch fashion-mnist || echo "note: Fashion-MNIST skipped (apt-get install dataset-fashion-mnist)" >&2
