"""``close_on_abrupt_exit``: the clean-up that runs when C's exit() ends the process under
Python (Qt and Xlib do so when the display goes away), and only then."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="glibc's exit handlers (Linux)"
)

SCRIPT = """
import ctypes, sys
from pathlib import Path
from allma_desktop.gui.quitting import close_on_abrupt_exit

marker = Path(sys.argv[1])
disarm = close_on_abrupt_exit(lambda: marker.write_text("closed"))
if "disarm" in sys.argv:
    disarm()
    disarm()  # twice: harmless
if "c-exit" in sys.argv:
    ctypes.CDLL(None).exit(3)  # as Qt does: "The X11 connection broke"
print("returned normally")
"""


def run(tmp_path: Path, *steps: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    marker = tmp_path / "marker"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(marker), *steps],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done, marker


def test_c_exit_under_python_runs_the_close(tmp_path: Path) -> None:
    done, marker = run(tmp_path, "c-exit")

    assert done.returncode == 3, done.stderr
    assert marker.read_text() == "closed"


def test_a_disarmed_close_does_not_run_and_python_exits_cleanly(tmp_path: Path) -> None:
    done, marker = run(tmp_path, "disarm", "c-exit")

    assert done.returncode == 3, done.stderr
    assert not marker.exists()


def test_disarming_before_pythons_own_exit_leaves_no_handler_behind(tmp_path: Path) -> None:
    """A handler left with C after Python shut down would crash the exit (SIGSEGV)."""
    done, marker = run(tmp_path, "disarm")

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "returned normally"
    assert not marker.exists()
