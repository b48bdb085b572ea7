#!/usr/bin/env bash
# CI: build the one-folder app and run its self-test (called from .ci/run after the tests).
#
# Reuses ./.venv (scripts/setup.sh) and PyInstaller's work folder build/pyinstaller, so a
# second run with unchanged dependencies skips most of the analysis. Measured on 2 cores:
# 51 s in all with warm caches (build 33 s, self-test, API check, tarball, self-test
# again); the first run on a machine also builds numpy without BLAS (see build.sh),
# 372 s in all, after which it is cached in ~/.cache/allma-build.
# Fails (exit 1) if the build fails, the app does not start, its self-test fails, its
# local API does not answer or cannot ingest and find a PDF, a DOCX, a Markdown file and
# a WebP picture (packaging/check_frozen_api.py --documents) or the folder is over budget.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
export QT_QPA_PLATFORM=offscreen
ALLMA_BUILD="${ALLMA_BUILD:-onedir}" timeout 1800 bash packaging/build.sh
# One more time by hand, as a user would, with a clean environment and no source tree
# on the path: the build must not lean on the checkout or the venv.
(
  cd /tmp
  env -i HOME="$HOME" PATH=/usr/bin:/bin LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
    timeout 300 "$OLDPWD/dist/allma/allma" --self-test
)
# The one-folder build's size budget (packaging/pyinstaller/bundle_filter.py): printed on
# every build, and a build above it fails, so what slips in is seen at once.
budget_mb=$(python3 -c 'import sys; sys.path.insert(0, "packaging/pyinstaller"); import bundle_filter; print(bundle_filter.ONE_FOLDER_BUDGET_MB)')
size_mb=$(du -sm dist/allma | cut -f1)
echo "one-folder build: ${size_mb} MB (budget ${budget_mb} MB)"
if [ "$size_mb" -gt "$budget_mb" ]; then
  echo "FAILED: dist/allma is ${size_mb} MB, over its ${budget_mb} MB budget. Largest folders:" >&2
  du -sm dist/allma/_internal/* | sort -rn | head -15 >&2
  exit 1
fi
echo "packaging CI step took $(( $(date +%s) - started )) s"
