"""Quitting the app, whatever close-to-tray says: the tray menu, Ctrl+Q, SIGTERM, logout.

Close-to-tray turns a window's close into "hide"; a quit must get through it. Every
path that means "end the app" calls ``quit_application()``, which marks the app as
quitting (the tray's close filter then lets each close pass, so each window saves its
layout), closes the windows and ends the event loop; ``app.main`` then closes the engine
and its database.

One end of the app does not pass through Python: when an X11 desktop session ends, the
X server goes away, and Qt ("The X11 connection broke") and Xlib (a fatal I/O error) end
the process with C's ``exit(1)``, from inside the event loop. (PySide6's Qt for Linux is
built without XSMP, so there is no "save yourself" first: ``commitDataRequest`` never
comes.) ``close_on_abrupt_exit`` arms a C exit handler for that case. Not covered: Qt
for Wayland ends with ``_exit`` when the compositor goes away, which runs no handler;
there the session's SIGTERM (systemd stops the session's processes) is what quits.
"""

from __future__ import annotations

import ctypes
import logging
import platform
import sys
import threading
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QMainWindow

log = logging.getLogger(__name__)

QUITTING_PROPERTY = "allmaQuitting"


def application_quitting() -> bool:
    """True once ``quit_application()`` has been called (closes must not be refused)."""
    application = QCoreApplication.instance()
    return application is not None and bool(application.property(QUITTING_PROPERTY))


def quit_application() -> None:
    """Close every window (each saves its layout) and end the event loop."""
    application = QCoreApplication.instance()
    if application is None:
        return
    log.info("quitting")
    application.setProperty(QUITTING_PROPERTY, True)
    if isinstance(application, QApplication):
        for widget in application.topLevelWidgets():
            if widget.isVisible() or isinstance(widget, QMainWindow):  # hidden in the tray too
                widget.close()
    QApplication.quit()


def reset_quitting() -> None:
    """Forget a quit (the app object outlives one run in the tests)."""
    application = QCoreApplication.instance()
    if application is not None:
        application.setProperty(QUITTING_PROPERTY, False)


# void handler(void *), as glibc's __cxa_atexit takes it.
_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# The armed handlers' ctypes objects: freed while C still holds the handler, the process
# would jump into freed memory at exit.
_armed: dict[int, tuple[object, object]] = {}
_armed_lock = threading.Lock()


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None  # musl's __cxa_finalize removes nothing; other systems end differently
    libc = ctypes.CDLL(None)
    libc.__cxa_atexit.argtypes = [_EXIT_HANDLER, ctypes.c_void_p, ctypes.c_void_p]
    libc.__cxa_atexit.restype = ctypes.c_int
    libc.__cxa_finalize.argtypes = [ctypes.c_void_p]
    libc.__cxa_finalize.restype = None
    return libc


def close_on_abrupt_exit(close: Callable[[], None]) -> Callable[[], None]:
    """Run ``close`` if C's ``exit`` ends the process from under Python (see the module's
    note); returns the function that disarms it, to call before the app's own return.

    ``close`` runs on the thread that called ``exit``, before Qt's own exit handlers
    (the last registered runs first), with the other threads still running; it must not
    touch Qt. It is registered with glibc's ``__cxa_atexit`` under a handle of its own,
    and disarming runs ``__cxa_finalize`` on that handle, which takes it off the list:
    a handler left there would call into Python after Python has shut down, and crash.
    Outside glibc's Linux it does nothing.
    """
    libc = _glibc()
    if libc is None:
        return lambda: None
    handle = ctypes.create_string_buffer(1)  # its address tells this handler apart
    armed = threading.Event()
    armed.set()

    def run(_argument: int | None) -> None:
        if not armed.is_set():
            return  # being disarmed: the app ends the normal way
        armed.clear()
        try:
            log.warning("the process is ending from inside Qt or Xlib: closing the library")
            close()
        except BaseException:  # nothing may escape into C's exit
            log.exception("closing the library at an abrupt exit failed")

    callback = _EXIT_HANDLER(run)
    with _armed_lock:
        _armed[ctypes.addressof(handle)] = (handle, callback)
    if libc.__cxa_atexit(callback, None, ctypes.addressof(handle)) != 0:
        with _armed_lock:
            del _armed[ctypes.addressof(handle)]
        log.warning("could not arm the exit handler; an abrupt exit leaves -wal and -shm")
        return lambda: None

    def disarm() -> None:
        with _armed_lock:
            kept = _armed.pop(ctypes.addressof(handle), None)  # alive until the call below
            if kept is None:
                return
            armed.clear()
            libc.__cxa_finalize(ctypes.addressof(handle))  # calls ``run`` (now a no-op) once
            del kept

    return disarm
