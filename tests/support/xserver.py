"""A real X server for the tests that need one (Xvfb), and a stand-in for other programs.

``start_xvfb`` starts Xvfb on a display number it picks itself (``-displayfd``), so runs
never clash. ``OtherProgram`` is another X client with a plain window, given the
keyboard focus; it can also take a selection, as a compositing manager
(``_NET_WM_CM_S0``) or a system tray (``_NET_SYSTEM_TRAY_S0``) does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

XVFB = shutil.which("Xvfb")
XDOTOOL = shutil.which("xdotool")
LIBX11 = ctypes.util.find_library("X11")
START_TIMEOUT = 30.0
DISPLAY_RANGE = (300, 900)  # far from the numbers desktops and people pick
MISSING = (
    "needs Xvfb, xdotool and libX11 (apt install xvfb xdotool; "
    "`bash scripts/setup.sh --dev` installs them)"
)


def x_tools_missing() -> bool:
    return XVFB is None or XDOTOOL is None or LIBX11 is None


@contextmanager
def start_xvfb() -> Iterator[str]:
    """A fresh Xvfb; yields its display name (":N").

    The number is picked at random from a high range, not by Xvfb (which starts at :0,
    where the socket's abstract name may lead to another session's server).
    """
    assert XVFB is not None
    for number in random.sample(range(*DISPLAY_RANGE), 20):
        if Path(f"/tmp/.X{number}-lock").exists():
            continue
        server = _xvfb(number)
        if server is not None:
            break
    else:
        raise AssertionError("no free X display number for Xvfb")
    try:
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(10)


def _xvfb(number: int) -> subprocess.Popen[bytes] | None:
    """Xvfb on :number once it accepts clients; None when that number is taken. (With
    ``-noreset``: it does not reset when its last client leaves, refusing new ones meanwhile.)"""
    assert XVFB is not None
    read_end, write_end = os.pipe()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - the server's, closed with this process
    server = subprocess.Popen(
        [XVFB, f":{number}", "-displayfd", str(write_end), "-screen", "0", "1024x768x24",
         "-nolisten", "tcp", "-noreset"],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        # Not DEVNULL: this Xvfb exits at once when its stderr is /dev/null.
        stderr=log,
    )  # fmt: skip
    os.close(write_end)
    log.close()  # the child has its own copy
    try:
        said = _read_line(read_end)
    finally:
        os.close(read_end)
    if said == str(number):
        return server
    server.kill()  # it could not take the number (another server has it): try another
    server.wait(10)
    return None


def _read_line(fd: int) -> str:
    """Up to the newline (Xvfb writes the number, then the newline, in two writes: closing
    the pipe in between is a fatal error for it)."""
    said = b""
    deadline = time.monotonic() + START_TIMEOUT
    while not said.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            break
        said += chunk
    return said.decode().strip()


def xdotool(display: str, *arguments: str) -> str:
    assert XDOTOOL is not None
    done = subprocess.run(
        [XDOTOOL, *arguments],
        env={**os.environ, "DISPLAY": display},
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout.strip()


def focused_window_name(display: str) -> str:
    return xdotool(display, "getwindowfocus", "getwindowname")


class OtherProgram:
    """A plain X window of another client, mapped and given the keyboard focus."""

    def __init__(self, display: str, name: str = "Another program") -> None:
        lib = ctypes.CDLL(LIBX11 or "libX11.so.6")
        pointer, window, integer = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int
        lib.XOpenDisplay.restype = pointer
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XDefaultRootWindow.restype = window
        lib.XDefaultRootWindow.argtypes = [pointer]
        lib.XCreateSimpleWindow.restype = window
        lib.XCreateSimpleWindow.argtypes = [
            pointer, window, integer, integer, integer, integer, ctypes.c_uint, window, window
        ]  # fmt: skip
        lib.XStoreName.argtypes = [pointer, window, ctypes.c_char_p]
        lib.XMapRaised.argtypes = [pointer, window]
        lib.XSetInputFocus.argtypes = [pointer, window, integer, ctypes.c_ulong]
        lib.XSync.argtypes = [pointer, integer]
        lib.XCloseDisplay.argtypes = [pointer]
        lib.XInternAtom.restype = ctypes.c_ulong
        lib.XInternAtom.argtypes = [pointer, ctypes.c_char_p, integer]
        lib.XSetSelectionOwner.argtypes = [pointer, ctypes.c_ulong, window, ctypes.c_ulong]
        self.lib = lib
        self.handle = lib.XOpenDisplay(display.encode())
        assert self.handle, f"cannot open {display}"
        root = lib.XDefaultRootWindow(self.handle)
        self.window = lib.XCreateSimpleWindow(self.handle, root, 10, 10, 400, 300, 0, 0, 0xFFFFFF)
        lib.XStoreName(self.handle, self.window, name.encode())
        lib.XMapRaised(self.handle, self.window)
        lib.XSync(self.handle, 0)
        self.focus()

    def focus(self) -> None:
        self.lib.XSetInputFocus(self.handle, self.window, 2, 0)  # RevertToParent, CurrentTime
        self.lib.XSync(self.handle, 0)

    def own_selection(self, name: str) -> None:
        """Take the selection ``name``, as the program that selection stands for does."""
        atom = self.lib.XInternAtom(self.handle, name.encode(), 0)
        self.lib.XSetSelectionOwner(self.handle, atom, self.window, 0)
        self.lib.XSync(self.handle, 0)

    def close(self) -> None:
        self.lib.XCloseDisplay(self.handle)
