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

Which of the two ends it is a race. Qt's own X11 connection, when it finds the server
gone, does not call C's ``exit`` but ``QCoreApplication::exit(1)``, at every turn of the
event loop from then on: the loop returns 1, and the asynchronous shutdown can never run.
``app.main`` then ends the process with ``close_and_end_now``, as the exit handler does.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QMainWindow

from allma_desktop.glibc import glibc

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


def close_and_end_now(close: Callable[[], None], status: int) -> NoReturn:
    """Run ``close``, flush the logs, and end the process at once with ``status``.

    For an end that cannot wait for the event loop: the loop can no longer run, and the
    rest of a normal exit (Qt's and Shiboken's destructors while worker threads still run,
    Python waiting to join those threads) can deadlock or crash. ``close`` must not touch
    Qt. The app's helper processes end with it (they watch their parent).
    """
    try:
        close()
    except BaseException:  # nothing may stop the end
        log.exception("closing the library at an abrupt exit failed")
    # A log that cannot be written is no reason to stay.
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    os._exit(status)


# void handler(void *argument, int status): glibc calls __cxa_atexit's handlers with the
# status given to exit().
_EXIT_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int)
# The armed handlers' ctypes objects: freed while C still holds the handler, the process
# would jump into freed memory at exit.
_armed: dict[int, tuple[object, object]] = {}
_armed_lock = threading.Lock()
# glibc before 2.41 lets several threads run the exit handlers at once, each taking the
# next from the list: they run destructors side by side (a crash), and the first to find
# the list empty ends the process (``_exit``) whatever the others are doing. A library's
# own thread may see the display go and call exit() as Qt's does. So the first thread to
# reach the handler closes the library and ends the process; any other that reaches it
# waits there meanwhile. The handler is put on the list this many times, one entry for
# each such thread to stop at.
EXIT_HANDLER_ENTRIES = 4
# How long another exiting thread is held before it may go on (the first one hung).
OTHER_EXIT_WAIT_SECONDS = 30.0


def _glibc() -> ctypes.CDLL | None:
    libc = glibc()
    if libc is None:
        return None  # musl's __cxa_finalize removes nothing; other systems end differently
    libc.__cxa_atexit.argtypes = [_EXIT_HANDLER, ctypes.c_void_p, ctypes.c_void_p]
    libc.__cxa_atexit.restype = ctypes.c_int
    libc.__cxa_finalize.argtypes = [ctypes.c_void_p]
    libc.__cxa_finalize.restype = None
    libc.fflush.argtypes = [ctypes.c_void_p]
    libc._exit.argtypes = [ctypes.c_int]
    return libc


def close_on_abrupt_exit(close: Callable[[], None]) -> Callable[[], None]:
    """Run ``close`` if C's ``exit`` ends the process from under Python (see the module's
    note); returns the function that disarms it, to call before the app's own return.

    ``close`` runs once, on the first thread that called ``exit``, before Qt's own exit
    handlers (the last registered runs first), with the other threads still running; it
    must not touch Qt. Other threads that call ``exit`` are held (see
    ``EXIT_HANDLER_ENTRIES``). Then the process ends at once with exit()'s status
    (``_exit``): the exit handlers left are not run.

    It is registered with glibc's ``__cxa_atexit`` under a handle of its own, and
    disarming runs ``__cxa_finalize`` on that handle, which takes it off the list: a
    handler left there would call into Python after Python has shut down, and crash.
    Outside glibc's Linux it does nothing.
    """
    libc = _glibc()
    if libc is None:
        return lambda: None
    handle = ctypes.create_string_buffer(1)  # its address tells this handler apart
    armed = threading.Event()
    armed.set()
    owner: int | None = None  # the first exiting thread: it closes and ends the process
    owner_lock = threading.Lock()
    held = threading.Event()  # never set: the owner's _exit ends the threads held on it

    def run(_argument: int | None, status: int) -> None:
        nonlocal owner
        if not armed.is_set():
            return  # disarmed: the app ends the normal way
        this_thread = threading.get_ident()
        with owner_lock:
            if owner is None:
                owner = this_thread
        if owner != this_thread:
            held.wait(OTHER_EXIT_WAIT_SECONDS)
            return
        log.warning("the process is ending from inside Qt or Xlib: closing the library")
        # The rest of exit() runs Qt's and Shiboken's static destructors while Python's
        # threads still run and call into them: a deadlock (Shiboken's lock against the
        # GIL) or a crash. With the library closed, nothing is left worth that risk.
        libc.fflush(None)
        close_and_end_now(close, status)

    callback = _EXIT_HANDLER(run)
    with _armed_lock:
        _armed[ctypes.addressof(handle)] = (handle, callback)
    entries = 0
    for _ in range(EXIT_HANDLER_ENTRIES):
        if libc.__cxa_atexit(callback, None, ctypes.addressof(handle)) == 0:
            entries += 1
    if entries == 0:
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
            libc.__cxa_finalize(ctypes.addressof(handle))  # calls ``run`` (now a no-op)
            del kept

    return disarm
