#!/usr/bin/env bash
# Build Allma Desktop for this platform in one command, then check the result runs.
#
#   bash packaging/build.sh            one-folder app + one-file binary + Linux tarball
#   ALLMA_BUILD=onedir bash packaging/build.sh    only the one-folder app (what CI does)
#
# Output (Linux):
#   dist/allma/allma                       one-folder app (start it, or install it below)
#   dist/allma-onefile                     one-file binary
#   dist/allma-<version>-linux-x86_64.tar.gz  the folder + packaging/linux, for install.sh
# Python: $PYTHON, else ./.venv (scripts/setup.sh makes it), else python3.
# PyInstaller's work folder (build/pyinstaller) is kept between runs as a cache.
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi
if ! "$python" -c "import PyInstaller" 2>/dev/null; then
  echo "Installing PyInstaller into $("$python" -c 'import sys; print(sys.prefix)')"
  "$python" -m pip install -q "pyinstaller>=6.10,<7"
fi
build="${ALLMA_BUILD:-both}"
version="$("$python" -c 'import allma_desktop; print(allma_desktop.__version__)')"

started=$(date +%s)
ALLMA_BUILD="$build" "$python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller allma.spec
echo "PyInstaller took $(( $(date +%s) - started )) s"

# A build that cannot start is not a build: check it here, headless.
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
check() {
  "$1" --version
  "$1" --self-test
}
if [ "$build" != "onefile" ]; then
  check dist/allma/allma
  echo "one folder: $(du -sh dist/allma | cut -f1)"
fi
if [ "$build" != "onedir" ]; then
  check dist/allma-onefile
  echo "one file:   $(du -sh dist/allma-onefile | cut -f1)"
fi

if [ "$(uname -s)" = "Linux" ] && [ "$build" != "onefile" ]; then
  name="allma-${version}-linux-$(uname -m)"
  stage="build/$name"
  rm -rf "$stage"
  mkdir -p "$stage"
  cp -a dist/allma "$stage/allma"
  cp -a packaging/linux "$stage/linux"
  cp -a allma_desktop/resources/icons "$stage/linux/icons"
  cp packaging/linux/install.sh "$stage/install.sh"
  tar -C build -czf "dist/$name.tar.gz" "$name"
  echo "tarball:    dist/$name.tar.gz ($(du -sh "dist/$name.tar.gz" | cut -f1))"
fi
