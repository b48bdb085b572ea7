"""Is there a screen to open a window on? Asked before Qt, which aborts when there is none.

Without a display (over SSH, in a container, on a server) Qt's xcb plugin prints advice
about libxcb-cursor0 and aborts the process (exit 134). We look first and say in our
words what happened and what to use instead.
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path

NO_DISPLAY_EXIT = 3
X11_TCP_BASE_PORT = 6000
CONNECT_TIMEOUT = 1.0
# Qt platforms that need no display server (tests, headless rendering, VNC).
HEADLESS_PLATFORMS = ("offscreen", "minimal", "vnc", "linuxfb", "eglfs", "vkkhrdisplay")

NO_DISPLAY_MESSAGE = """\
Allma Desktop needs a graphical display, and none was found ({reason}).

Over SSH, in a container or on a server, use the command line instead:
  allma ingest PATH      index files and folders
  allma ask "QUESTION"   ask your documents
  allma serve            the local API (OpenAI-compatible), for other apps
Run `allma --help` for every command. On a desktop, start Allma from its menu entry,
or check that DISPLAY (X11) or WAYLAND_DISPLAY (Wayland) is set."""


def missing_display_reason(
    env: Mapping[str, str] | None = None, platform: str | None = None
) -> str | None:
    """Why no window can open here, or None when a display (or a headless Qt platform) is there.

    Only Linux and the other X11/Wayland systems are checked: Windows and macOS always
    have their own display.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    wanted = env.get("QT_QPA_PLATFORM", "").split(":", 1)[0].split(";", 1)[0].strip()
    if wanted.startswith(HEADLESS_PLATFORMS):
        return None
    wayland = env.get("WAYLAND_DISPLAY", "")
    x11 = env.get("DISPLAY", "")
    if wanted.startswith("wayland"):
        x11 = ""
    elif wanted.startswith("xcb"):
        wayland = ""
    if wayland and _wayland_answers(wayland, env):
        return None
    if x11 and _x11_answers(x11):
        return None
    if wayland or x11:
        shown = ", ".join(
            f"{name}={value}"
            for name, value in (("WAYLAND_DISPLAY", wayland), ("DISPLAY", x11))
            if value
        )
        return f"{shown} does not answer"
    return "neither DISPLAY nor WAYLAND_DISPLAY is set"


def _wayland_answers(name: str, env: Mapping[str, str]) -> bool:
    path = Path(name) if name.startswith("/") else Path(env.get("XDG_RUNTIME_DIR", "")) / name
    return _connects(socket.AF_UNIX, str(path))


def _x11_answers(display: str) -> bool:
    """Whether the X server named by ``display`` ("[host]:N[.screen]") accepts a connection."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return True  # a form we do not know (a launchd path, say): let Qt try
    if host in ("", "unix") or host.startswith("/"):
        if host.startswith("/"):  # macOS XQuartz style: a socket path
            return True
        # Linux also has an abstract socket; the file is there on every common setup.
        socket_file = f"/tmp/.X11-unix/X{number}"
        if _connects(socket.AF_UNIX, socket_file):
            return True
        return host == "" and _connects(socket.AF_UNIX, "\0" + socket_file)  # the abstract name
    try:  # X over TCP, as ssh -X forwards it (localhost:10.0)
        socket.create_connection((host, X11_TCP_BASE_PORT + int(number)), CONNECT_TIMEOUT).close()
    except OSError:
        return False
    return True


def _connects(family: socket.AddressFamily, address: str) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.settimeout(CONNECT_TIMEOUT)
            probe.connect(address)
    except (OSError, ValueError):
        return False
    return True


def report_missing_display(reason: str) -> int:
    """Print why the app cannot start here and what to use; the process's exit code."""
    print(NO_DISPLAY_MESSAGE.format(reason=reason), file=sys.stderr)
    return NO_DISPLAY_EXIT
