#!/usr/bin/env bash
# Build Allma Desktop for this platform in one command, then check the result runs.
#
#   bash packaging/build.sh            one-folder app + one-file binary + Linux tarball
#   ALLMA_BUILD=onedir bash packaging/build.sh    only the one-folder app (what CI does)
#
# On Linux the first run builds numpy without BLAS (about 5 min, cached; see below).
# Each build is checked: --version, --self-test, and packaging/check_frozen_api.py.
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

# Linux: bundle a numpy built without BLAS and without its per-CPU SIMD variants. The
# wheel's OpenBLAS (and its Fortran runtime) is 28 MB, and the variants compiled for
# each CPU generation (AVX2, AVX-512...) 5 MB; nothing in the frozen app computes with
# numpy: Chroma searches in its Rust core, numpy only carries the vectors (FAISS, which
# would, is not bundled), and the baseline SSE code does that. Built from the sdist of
# the installed version once (about 5 min on 2 cores) and kept outside the checkout;
# put first on PYTHONPATH only while PyInstaller runs. If it cannot be built (no
# compiler, no network) the wheel's numpy is bundled. ALLMA_NUMPY_BLAS=1 skips it.
numpy_path=""
if [ "$(uname -s)" = "Linux" ] && [ "${ALLMA_NUMPY_BLAS:-0}" != "1" ]; then
  numpy_version="$("$python" -c 'import numpy; print(numpy.__version__)')"
  numpy_path="${XDG_CACHE_HOME:-$HOME/.cache}/allma-build/numpy-$numpy_version-noblas-nodispatch"
  if [ ! -f "$numpy_path/numpy/__init__.py" ]; then
    echo "Building numpy $numpy_version without BLAS into $numpy_path (once per version)"
    rm -rf "$numpy_path.partial"
    mkdir -p "$(dirname "$numpy_path")"
    if "$python" -m pip install -q --no-cache-dir --no-deps --no-binary numpy \
      --target "$numpy_path.partial" \
      "numpy==$numpy_version" -Csetup-args=-Dblas=none -Csetup-args=-Dlapack=none \
      -Csetup-args=-Dallow-noblas=true -Csetup-args=-Dcpu-dispatch=none; then
      mv "$numpy_path.partial" "$numpy_path"
    else
      echo "WARNING: could not build numpy without BLAS; bundling the wheel's (28 MB more)"
      rm -rf "$numpy_path.partial"
      numpy_path=""
    fi
  fi
fi

pythonpath="${PYTHONPATH:-}"
if [ -n "$numpy_path" ]; then pythonpath="$numpy_path${pythonpath:+:$pythonpath}"; fi

started=$(date +%s)
ALLMA_BUILD="$build" PYTHONPATH="$pythonpath" "$python" -m PyInstaller --noconfirm --log-level WARN \
  --distpath dist --workpath build/pyinstaller allma.spec
echo "PyInstaller took $(( $(date +%s) - started )) s"

# A build that cannot start is not a build: check it here, headless.
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-offscreen}"
check() {
  "$1" --version
  "$1" --self-test
  # The self-test does not start the local API; a build that lost FastAPI would pass it.
  # Through that API: a PDF, a DOCX and a Markdown file ingested and found, with the
  # project's Ollama-protocol test server as Ollama.
  "$python" packaging/check_frozen_api.py --documents "$1"
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
