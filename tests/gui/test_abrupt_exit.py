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
import ctypes, sys, threading, time
from pathlib import Path
from allma_desktop.gui.quitting import close_on_abrupt_exit

marker = Path(sys.argv[1])

def close():
    if "slow-close" in sys.argv:
        time.sleep(1.0)  # a database's checkpoint takes a while
    marker.write_text("closed")

if "hanging-destructor" in sys.argv:
    # Registered before the close, so run after it: as Shiboken's static destructor,
    # which waits for the GIL that a Python thread holds while it waits for Shiboken.
    hang = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda _argument: time.sleep(60))
    ctypes.CDLL(None).__cxa_atexit(hang, None, None)
disarm = close_on_abrupt_exit(close)
if "disarm" in sys.argv:
    disarm()
    disarm()  # twice: harmless
if "c-exit" in sys.argv:
    ctypes.CDLL(None).exit(3)  # as Qt does: "The X11 connection broke"
if "exit-from-threads" in sys.argv:
    # Qt's thread and Xlib's (the global shortcut's connection) both see the display
    # go and both call exit(); glibc 2.36 runs the handlers on both threads at once.
    start = threading.Barrier(3)
    def end_the_process():
        start.wait()
        ctypes.CDLL(None).exit(4)
    for _ in range(3):
        threading.Thread(target=end_the_process).start()
    time.sleep(30)
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


def test_threads_ending_the_process_at_once_all_wait_for_the_close(tmp_path: Path) -> None:
    """The thread that runs out of exit handlers first ends the process (``_exit``): it
    must not do so while another thread is still closing the library."""
    done, marker = run(tmp_path, "slow-close", "exit-from-threads")

    assert done.returncode == 4, done.stderr
    assert marker.read_text() == "closed"


def test_after_the_close_the_process_ends_without_the_exit_handlers_left(
    tmp_path: Path,
) -> None:
    done, marker = run(tmp_path, "hanging-destructor", "c-exit")  # 60 s if it ran

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
