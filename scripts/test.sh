#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: model, server, dashboard and real-browser tests.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh -k encode`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
if [ ! -x /usr/bin/chromium ]; then
  echo "error: /usr/bin/chromium is missing and could not be installed; the browser tests need it" >&2
  exit 1
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q "$@"
