#!/usr/bin/env bash
# Set up (if needed) and start DrSAE Explorer: API at http://127.0.0.1:${PORT:-8000}/api, docs at /docs,
# dashboard at /. The shipped models in models/ load at start (no training needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "DrSAE Explorer on http://${HOST:-127.0.0.1}:${PORT:-8000}/"
exec .venv/bin/uvicorn server.main:app --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}"
