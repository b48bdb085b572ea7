#!/usr/bin/env bash
# Set up Allma Desktop in ./.venv: the system libraries Qt needs (Debian/Ubuntu,
# when run as root or with sudo) and the Python package with its dependencies.
# Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."

# Python 3.11 or newer, checked first: an older one fails later with a confusing error.
python="${PYTHON:-python3}"
version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }
recent_enough() { "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; }
if ! command -v "$python" >/dev/null 2>&1; then
  echo "error: Allma Desktop needs Python 3.11 or newer, and '$python' was not found." >&2
  echo "Install it, then run: PYTHON=python3.11 bash scripts/setup.sh" >&2
  exit 1
fi
if ! recent_enough "$python"; then
  echo "error: Allma Desktop needs Python 3.11 or newer; '$python' is Python $(version_of "$python" || echo '(unknown)')." >&2
  echo "On Ubuntu 22.04: sudo apt install python3.11 python3.11-venv" >&2
  echo "then run: PYTHON=python3.11 bash scripts/setup.sh" >&2
  exit 1
fi
# A .venv made by another (older) Python is rebuilt, not reused.
if [ -e .venv ] && { [ ! -x .venv/bin/python ] || ! recent_enough .venv/bin/python; }; then
  echo "Rebuilding .venv: it was made with Python $(version_of .venv/bin/python || echo '(broken)'), not 3.11 or newer."
  rm -rf .venv
fi

# libx11-6: the global quick-ask key is grabbed through Xlib (gui/xlib.py), and the one-folder
# build takes libX11 from the system as PySide6's wheel does.
qt_libs=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3 libglib2.0-0
         libx11-6 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0 libxcb-render-util0
         libxcb-xinerama0 libxcb-image0)
# The tests press the global quick-ask key on a real X server (tests/gui/test_global_shortcut.py),
# and have it lent by a fake desktop portal on a private D-Bus bus (test_portal_shortcut.py).
if [ "${1:-}" = "--dev" ]; then
  qt_libs+=(xvfb xdotool dbus)
fi
# ALLMA_SKIP_SYSTEM_PACKAGES=1 leaves the system libraries alone (no apt, no sudo).
if [ -z "${ALLMA_SKIP_SYSTEM_PACKAGES:-}" ] && command -v apt-get >/dev/null 2>&1 \
   && command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for pkg in "${qt_libs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo_cmd="sudo"
    if [ "$(id -u)" -eq 0 ] || [ -n "$sudo_cmd" ]; then
      echo "Installing system libraries for Qt: ${missing[*]}"
      $sudo_cmd apt-get update -qq || true
      $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || echo "warning: could not install ${missing[*]}; the app may not start" >&2
    else
      echo "warning: missing system libraries for Qt: ${missing[*]} (install them with apt)" >&2
    fi
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install -q -e '.[dev]'
else
  .venv/bin/python -m pip install -q -e .
fi
