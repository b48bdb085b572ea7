"""The few Xlib calls the app needs beside Qt, through ctypes (libX11 is there wherever Qt's
xcb platform runs): a key grab on the root window for the global quick-ask shortcut, and
whether a compositing manager runs (see-through windows are drawn only under one).

Each ``XConnection`` is a connection of its own to the X server, apart from Qt's: its
requests and events never mix with Qt's. Errors from the server (a key grabbed by
another program: BadAccess) are caught around each request with a handler of our own,
then the one before is put back, so Xlib's default (which ends the process) never sees
them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

# X protocol constants (X.h)
KEY_PRESS = 2
GRAB_MODE_ASYNC = 1
SHIFT_MASK = 1 << 0
LOCK_MASK = 1 << 1
CONTROL_MASK = 1 << 2
MOD1_MASK = 1 << 3  # Alt
MOD2_MASK = 1 << 4  # Num Lock, on most keyboards
MOD4_MASK = 1 << 6  # Super / the Windows key
BAD_ACCESS = 10
# Num Lock and Caps Lock change an event's state: the grab is made for each mix of them.
IGNORED_MASKS = (0, LOCK_MASK, MOD2_MASK, LOCK_MASK | MOD2_MASK)

_Display = ctypes.c_void_p
_Window = ctypes.c_ulong


class XErrorEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("resourceid", ctypes.c_ulong),
        ("serial", ctypes.c_ulong),
        ("error_code", ctypes.c_ubyte),
        ("request_code", ctypes.c_ubyte),
        ("minor_code", ctypes.c_ubyte),
    ]


class XKeyEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", _Window),
        ("root", _Window),
        ("subwindow", _Window),
        ("time", ctypes.c_ulong),
        ("x", ctypes.c_int),
        ("y", ctypes.c_int),
        ("x_root", ctypes.c_int),
        ("y_root", ctypes.c_int),
        ("state", ctypes.c_uint),
        ("keycode", ctypes.c_uint),
        ("same_screen", ctypes.c_int),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("type", ctypes.c_int), ("xkey", XKeyEvent), ("pad", ctypes.c_long * 24)]


_ERROR_HANDLER = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(XErrorEvent))


class XlibUnavailable(Exception):
    """libX11 cannot be loaded, or the display cannot be opened."""


_library: ctypes.CDLL | None = None
_library_lock = threading.Lock()


def _libx11() -> ctypes.CDLL:
    global _library
    with _library_lock:
        if _library is not None:
            return _library
        name = ctypes.util.find_library("X11") or "libX11.so.6"
        try:
            lib = ctypes.CDLL(name)
        except OSError as error:
            raise XlibUnavailable(f"libX11 could not be loaded ({error})") from error
        lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
        lib.XOpenDisplay.restype = _Display
        lib.XCloseDisplay.argtypes = [_Display]
        lib.XDefaultRootWindow.argtypes = [_Display]
        lib.XDefaultRootWindow.restype = _Window
        lib.XDefaultScreen.argtypes = [_Display]
        lib.XDefaultScreen.restype = ctypes.c_int
        lib.XConnectionNumber.argtypes = [_Display]
        lib.XConnectionNumber.restype = ctypes.c_int
        lib.XKeysymToKeycode.argtypes = [_Display, ctypes.c_ulong]
        lib.XKeysymToKeycode.restype = ctypes.c_ubyte
        lib.XGrabKey.argtypes = [
            _Display, ctypes.c_int, ctypes.c_uint, _Window, ctypes.c_int, ctypes.c_int,
            ctypes.c_int,
        ]  # fmt: skip
        lib.XUngrabKey.argtypes = [_Display, ctypes.c_int, ctypes.c_uint, _Window]
        lib.XSync.argtypes = [_Display, ctypes.c_int]
        lib.XPending.argtypes = [_Display]
        lib.XPending.restype = ctypes.c_int
        lib.XNextEvent.argtypes = [_Display, ctypes.POINTER(XEvent)]
        lib.XSetErrorHandler.argtypes = [ctypes.c_void_p]
        lib.XSetErrorHandler.restype = ctypes.c_void_p
        lib.XInternAtom.argtypes = [_Display, ctypes.c_char_p, ctypes.c_int]
        lib.XInternAtom.restype = ctypes.c_ulong
        lib.XGetSelectionOwner.argtypes = [_Display, ctypes.c_ulong]
        lib.XGetSelectionOwner.restype = _Window
        _library = lib
        return lib


class XConnection:
    """A connection of our own to the X server (``display``: None for $DISPLAY)."""

    def __init__(self, display: str | None = None) -> None:
        self.lib = _libx11()
        self.handle: int | None = self.lib.XOpenDisplay(display.encode() if display else None)
        if not self.handle:
            raise XlibUnavailable(f"the X display {display or '$DISPLAY'} could not be opened")
        self.root = int(self.lib.XDefaultRootWindow(self.handle))

    def fileno(self) -> int:
        """The socket to watch for events (a ``QSocketNotifier`` on it)."""
        return int(self.lib.XConnectionNumber(self._open()))

    def close(self) -> None:
        if self.handle:
            self.lib.XCloseDisplay(self.handle)
            self.handle = None

    def _open(self) -> int:
        if not self.handle:
            raise XlibUnavailable("the X connection is closed")
        return self.handle

    @contextmanager
    def errors_caught(self) -> Iterator[list[int]]:
        """The error codes the server answers the requests made inside (synced at the end)."""
        codes: list[int] = []

        def handler(_display: int | None, event: ctypes._Pointer[XErrorEvent]) -> int:
            codes.append(int(event.contents.error_code))
            return 0

        callback = _ERROR_HANDLER(handler)
        with _library_lock:
            previous = self.lib.XSetErrorHandler(ctypes.cast(callback, ctypes.c_void_p))
            try:
                yield codes
                self.lib.XSync(self._open(), 0)
            finally:
                self.lib.XSetErrorHandler(previous)

    def keycode(self, keysym: int) -> int:
        """The keyboard's key for ``keysym`` (0: this keyboard has none)."""
        return int(self.lib.XKeysymToKeycode(self._open(), keysym))

    def grab_key(self, keycode: int, modifiers: int) -> int | None:
        """Take the key everywhere on the screen; the X error code when refused."""
        display = self._open()
        with self.errors_caught() as codes:
            for extra in IGNORED_MASKS:
                self.lib.XGrabKey(
                    display, keycode, modifiers | extra, self.root, 0,
                    GRAB_MODE_ASYNC, GRAB_MODE_ASYNC,
                )  # fmt: skip
        if codes:
            self.ungrab_key(keycode, modifiers)  # the variants that were granted
            return codes[0]
        return None

    def ungrab_key(self, keycode: int, modifiers: int) -> None:
        display = self._open()
        with self.errors_caught():
            for extra in IGNORED_MASKS:
                self.lib.XUngrabKey(display, keycode, modifiers | extra, self.root)

    def key_presses(self) -> list[tuple[int, int]]:
        """(keycode, modifiers without Num/Caps Lock) of the key presses waiting."""
        display = self._open()
        presses = []
        event = XEvent()
        while self.lib.XPending(display):
            self.lib.XNextEvent(display, ctypes.byref(event))
            if event.type == KEY_PRESS:
                state = event.xkey.state & ~(LOCK_MASK | MOD2_MASK) & 0xFF
                presses.append((int(event.xkey.keycode), int(state)))
        return presses

    def compositor_running(self) -> bool:
        """Whether a compositing manager owns this screen (``_NET_WM_CM_S<n>``)."""
        display = self._open()
        screen = int(self.lib.XDefaultScreen(display))
        atom = self.lib.XInternAtom(display, f"_NET_WM_CM_S{screen}".encode(), 0)
        return bool(self.lib.XGetSelectionOwner(display, atom))


def compositor_running(display: str | None = None) -> bool:
    """Whether see-through windows are drawn on this X display (False when it cannot tell)."""
    try:
        connection = XConnection(display)
    except XlibUnavailable as error:
        log.debug("no compositor check: %s", error)
        return False
    try:
        return connection.compositor_running()
    finally:
        connection.close()


__all__ = [
    "BAD_ACCESS",
    "CONTROL_MASK",
    "MOD1_MASK",
    "MOD4_MASK",
    "SHIFT_MASK",
    "XConnection",
    "XlibUnavailable",
    "compositor_running",
]
