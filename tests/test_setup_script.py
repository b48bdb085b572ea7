"""scripts/setup.sh: Python 3.11 or newer, said up front; a .venv of an older Python is rebuilt.

Run on a copy of the script, with stand-in Pythons (shell scripts that answer the
version questions setup.sh asks, make a stand-in venv and log pip's calls), so the
test neither needs a second Python nor installs anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAND_IN = """#!/usr/bin/env bash
# A stand-in Python {version}.
if [ "$1" = "-c" ]; then
  case "$2" in
    *"sys.exit"*) [ "{recent}" = yes ] && exit 0 || exit 1 ;;
    *) echo "{version}"; exit 0 ;;
  esac
fi
if [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && cp "$0" "$3/bin/python" && exit 0
fi
echo "$@" >> "{log}"
"""


def stand_in_python(path: Path, version: str, log: Path) -> Path:
    recent = "yes" if tuple(map(int, version.split("."))) >= (3, 11) else "no"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(STAND_IN.format(version=version, recent=recent, log=log))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def run_setup(checkout: Path, python: Path) -> subprocess.CompletedProcess[str]:
    (checkout / "scripts").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", checkout / "scripts" / "setup.sh")
    env = {**os.environ, "PYTHON": str(python), "ALLMA_SKIP_SYSTEM_PACKAGES": "1"}
    return subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_older_python_is_refused_first_with_what_to_do(tmp_path: Path) -> None:
    log = tmp_path / "pip.log"
    old = stand_in_python(tmp_path / "bin" / "python3.10", "3.10", log)

    result = run_setup(tmp_path / "checkout", old)

    assert result.returncode == 1
    assert "needs Python 3.11 or newer" in result.stderr
    assert "is Python 3.10" in result.stderr
    assert "PYTHON=python3.11 bash scripts/setup.sh" in result.stderr
    assert not (tmp_path / "checkout" / ".venv").exists()
    assert not log.exists()  # nothing was installed


def test_a_venv_of_an_older_python_is_rebuilt_with_the_new_one(tmp_path: Path) -> None:
    log = tmp_path / "pip.log"
    checkout = tmp_path / "checkout"
    stand_in_python(checkout / ".venv" / "bin" / "python", "3.10", tmp_path / "old-pip.log")
    (checkout / ".venv" / "made-by-3.10").touch()
    new = stand_in_python(tmp_path / "bin" / "python3.11", "3.11", log)

    result = run_setup(checkout, new)

    assert result.returncode == 0, result.stderr
    assert "Rebuilding .venv" in result.stdout
    assert not (checkout / ".venv" / "made-by-3.10").exists()
    assert "pip install" in log.read_text()  # with the new venv's Python
    assert not (tmp_path / "old-pip.log").exists()
