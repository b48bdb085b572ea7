#!/usr/bin/env bash
# Run every check CI runs: set up (including system libraries), lint, type-check, test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check allma_desktop tests bench
.venv/bin/mypy
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
