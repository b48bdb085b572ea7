"""``allma-desktop``: the QApplication, the one qasync event loop, and a clean shutdown.

Order matters for a fast start: the window is shown first, then the engine (and with
it chromadb, pymupdf and the ollama client) is imported and opened off the GUI thread.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import qasync
from PySide6.QtCore import QCoreApplication, QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QWidget

from allma_desktop.config import AppConfig, default_log_dir
from allma_desktop.errors import ConfigError
from allma_desktop.gui.controllers.api_controller import ApiController
from allma_desktop.gui.display import missing_display_reason, report_missing_display
from allma_desktop.gui.gc_guard import MainThreadGarbageCollector
from allma_desktop.gui.main_window import SETTINGS_APPLICATION, SETTINGS_ORGANIZATION, MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.quitting import (
    application_quitting,
    close_and_end_now,
    close_on_abrupt_exit,
    quit_application,
    reset_quitting,
)
from allma_desktop.gui.single_instance import InstanceServer, hand_off, instance_key
from allma_desktop.gui.widgets.markdown_render import load_renderer
from allma_desktop.malloc_arenas import limit_malloc_arenas
from allma_desktop.selftest import handle_packaging_flags

log = logging.getLogger(__name__)

FIRST_PAINT_FALLBACK_MS = 2000
# `allma-desktop --quick-ask`: open the quick-ask popup (in the running app if there is
# one), for desktops to bind to a key of the user's choice.
QUICK_ASK_FLAG = "--quick-ask"


def main(argv: Sequence[str] | None = None) -> int:
    limit_malloc_arenas()  # before Qt and the engine start their threads
    arguments = list(sys.argv if argv is None else argv)
    # --version / --self-test answer and exit here; --measure-startup arms a timer.
    packaging_exit = handle_packaging_flags(arguments)
    if packaging_exit is not None:
        return packaging_exit
    if QApplication.instance() is None:
        no_display = missing_display_reason()
        if no_display is not None:  # Qt would abort with advice about libxcb-cursor0
            return report_missing_display(no_display)
    QCoreApplication.setOrganizationName(SETTINGS_ORGANIZATION)
    QCoreApplication.setApplicationName(SETTINGS_APPLICATION)
    app = QApplication.instance() or QApplication(arguments)
    assert isinstance(app, QApplication)
    app.setApplicationDisplayName("Allma")
    app.setDesktopFileName("allma-desktop")

    config, config_error = load_config()
    setup_logging(config.log_level)
    paths = file_arguments(arguments[1:])
    quick_ask = QUICK_ASK_FLAG in arguments[1:]
    key = instance_key(config.data_dir)
    if hand_off(key, paths, quick_ask=quick_ask):
        log.info("handed %s to the running instance", "quick ask" if quick_ask else paths)
        return 0

    reset_quitting()
    collector = MainThreadGarbageCollector()  # Qt objects must die on this thread
    restore_switching = favour_the_gui_thread()
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    restore_hooks = install_asyncgen_hooks(loop)
    host = OrchestratorHost(config)
    _apply_theme(app)
    window = MainWindow(host)
    server = InstanceServer(key, window)
    server.listen()
    server.activated.connect(lambda received: _on_second_launch(window, host, received))
    extras = _create_tray(window, host)
    quick_ask_window = next((w for w in extras if hasattr(w, "open_popup")), None)
    if quick_ask_window is not None:
        server.quick_ask_requested.connect(quick_ask_window.open_popup)
    restore_signals = _quit_on_termination(app, window)
    # The session's display going away ends the process inside Qt, with C's exit().
    disarm_abrupt_exit = close_on_abrupt_exit(host.close_database_now)
    window.show()
    if config_error is not None:
        window.status.showMessage(f"{config_error} Using default settings.", 15000)
    if paths:
        _ingest_when_ready(host, paths)
    if quick_ask and quick_ask_window is not None:
        QTimer.singleShot(0, quick_ask_window.open_popup)  # first launch: open it too
    # Open the engine once the window has painted: the first frame never waits on imports
    # (imported in a thread, they would still take the GIL from the painting thread).
    after_first_paint(window, lambda: host.run(open_orchestrator(host)))

    shutting_down: asyncio.Future[None] | None = None
    try:
        loop_status = loop.run_forever()
        if loop_status != 0 and not application_quitting():
            # Qt's X11 connection broke: it ends every new run of the loop at once, so
            # the asynchronous shutdown could never run. End as at an abrupt exit.
            log.warning("Qt ended the event loop (status %s): the display went away", loop_status)
            close_and_end_now(host.close_database_now, loop_status)
        shutting_down = asyncio.ensure_future(shutdown(host, window.api_controller), loop=loop)
        loop.run_until_complete(shutting_down)
    except BaseException:
        if shutting_down is not None and not shutting_down.done():
            # The loop was ended under the shutdown (the display went away meanwhile).
            log.warning("the event loop ended before the shutdown finished")
            close_and_end_now(host.close_database_now, 1)
        host.close_database_now()  # whatever failed, nothing is left half-written
        raise
    finally:
        restore_signals()
        server.close()
        if window.quick_ask_shortcut is not None:
            window.quick_ask_shortcut.close()  # the global key goes back to the desktop now
        for widget in [window, *extras]:
            if isinstance(widget, QObject):
                widget.deleteLater()
        del extras
        loop.close()
        restore_hooks()
        asyncio.set_event_loop(None)
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        collector.stop()
        restore_switching()
        # Last: until here an exit() from Qt or Xlib (the display going away while the
        # shortcut lets go of its key, say) must still close the library.
        disarm_abrupt_exit()
    return 0


class _FirstPaintWatch(QObject):
    """Calls ``callback`` once, just after ``window`` (or a child) first paints."""

    def __init__(self, window: QWidget, callback: Callable[[], object]) -> None:
        super().__init__(window)
        self._window = window
        self._callback: Callable[[], object] | None = callback
        QApplication.instance().installEventFilter(self)  # type: ignore[union-attr]
        # Never painted (started hidden, say): go ahead anyway after a while.
        QTimer.singleShot(FIRST_PAINT_FALLBACK_MS, self._fire)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt's name
        if (
            self._callback is not None
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and watched.window() is self._window
        ):
            QTimer.singleShot(0, self._fire)  # after the whole frame, not mid-paint
        return False

    def _fire(self) -> None:
        callback, self._callback = self._callback, None
        if callback is None:
            return
        application = QApplication.instance()
        if application is not None:
            application.removeEventFilter(self)
        callback()


def after_first_paint(window: QWidget, callback: Callable[[], object]) -> None:
    """Run ``callback`` on the loop once ``window`` has painted its first frame."""
    _FirstPaintWatch(window, callback)


def install_asyncgen_hooks(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Let ``loop`` finalize abandoned async generators, as ``asyncio.run`` does.

    qasync does not install these hooks, so an async generator dropped mid-way
    (an HTTP stream left after its last line) would be closed by the garbage
    collector outside any loop, with "no running event loop" errors. Returns a
    function that puts the previous hooks back.
    """
    previous = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(
        firstiter=loop._asyncgen_firstiter_hook,  # type: ignore[attr-defined]
        finalizer=loop._asyncgen_finalizer_hook,  # type: ignore[attr-defined]
    )
    return lambda: sys.set_asyncgen_hooks(*previous)


GUI_SWITCH_INTERVAL = 0.001  # seconds; Python's default is 0.005


def favour_the_gui_thread() -> Callable[[], None]:
    """Let a thread waiting for the GIL have it after 1 ms instead of 5; returns the undo.

    During an ingest the app's worker threads (embedding answers, SQLite commits, the
    parse and store pipes) take turns holding the GIL, and the GUI thread, wanting it
    back after each event, could wait out several 5 ms turns in a row: stalls of 20-30 ms.
    With 1 ms turns the longest stall of bench (g) went from ~20 ms to ~14 ms.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(GUI_SWITCH_INTERVAL)
    return lambda: sys.setswitchinterval(previous)


async def open_orchestrator(host: OrchestratorHost) -> None:
    """Import the engine's heavy modules in a worker thread, then open it."""
    await asyncio.to_thread(importlib.import_module, "allma_desktop.orchestrator")
    await asyncio.to_thread(load_renderer)  # else the first answer's render imports them
    # httpcore imports anyio's asyncio backend on the first streamed request; imported on
    # the GUI thread (where PySide6's import hook reads each module's source) it froze the
    # window 20-30 ms as the first question went out.
    await asyncio.to_thread(importlib.import_module, "anyio._backends._asyncio")
    await host.start()
    # What start-up made (modules, classes, the engine) lives as long as the app: freeze
    # it so each full collection on the GUI thread no longer walks it (~130 ms less).
    gc.freeze()


async def shutdown(host: OrchestratorHost, api: ApiController | None = None) -> None:
    """Stop the local API, background work, and close the database; then cancel the rest."""
    if api is not None and api.running:
        await api.shutdown()  # before the engine: open requests still need the library
    await host.stop()
    await asyncio.get_running_loop().shutdown_asyncgens()
    current = asyncio.current_task()
    leftovers = [task for task in asyncio.all_tasks() if task is not current]
    for task in leftovers:
        task.cancel()
    if leftovers:
        await asyncio.gather(*leftovers, return_exceptions=True)


def load_config() -> tuple[AppConfig, ConfigError | None]:
    """The user's config; on a bad value, the defaults plus the error to show."""
    try:
        return AppConfig.from_env(), None
    except ConfigError as error:
        return AppConfig(), error


def file_arguments(arguments: Sequence[str]) -> list[str]:
    """Absolute paths of the files and folders named on the command line."""
    return [str(Path(a).expanduser().resolve()) for a in arguments if not a.startswith("-")]


def setup_logging(level: str) -> None:
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.RotatingFileHandler) for h in root.handlers):
        return
    root.setLevel(os.environ.get("LOG_LEVEL", level).upper())
    try:
        folder = default_log_dir()
        folder.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            folder / "allma-desktop.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)


def _quit_on_termination(app: QApplication, window: MainWindow) -> Callable[[], None]:
    """SIGTERM (logout, ``kill``), SIGHUP, Ctrl+C and the end of the desktop session end the app the
    clean way, with or without a tray: layout saved, database closed.

    Python runs signal handlers between bytecodes; the GUI-thread collector's timer gives
    it that chance every 200 ms even while Qt waits for events. Returns a function that
    puts the previous handlers back.
    """

    def quit_cleanly(_signal: int, _frame: object) -> None:
        window.save_layout()
        quit_application()

    # Logging out: the session manager asks us to save, then ends us; a hidden window
    # (close-to-tray) must not hold the session up or keep the app alive.
    app.commitDataRequest.connect(lambda _manager: quit_application())
    numbers = [signal.SIGTERM, signal.SIGINT]
    if hasattr(signal, "SIGHUP"):  # the terminal it was started from closed (not on Windows)
        numbers.append(signal.SIGHUP)
    previous = {number: signal.signal(number, quit_cleanly) for number in numbers}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def _on_second_launch(window: MainWindow, host: OrchestratorHost, paths: list[str]) -> None:
    window.bring_forward()
    if paths:
        _ingest_when_ready(host, paths)


def _ingest_when_ready(host: OrchestratorHost, paths: list[str]) -> None:
    """Hand ``paths`` to the library once the engine is open (at once if it already is)."""
    if host.ready:
        host.events.ingest_requested.emit(paths)
        return

    def emit_once(_orchestrator: object) -> None:
        host.events.engine_ready.disconnect(emit_once)
        host.events.ingest_requested.emit(paths)

    host.events.engine_ready.connect(emit_once)


def _apply_theme(app: QApplication) -> None:
    """Engineer B's theme, when present; the Fusion style otherwise."""
    try:
        from allma_desktop.gui import theme
    except ImportError:
        app.setStyle("Fusion")
        return
    from allma_desktop.gui.main_window import gui_settings

    theme.apply_theme(app, str(gui_settings().value("appearance/theme", "system")))


def _create_tray(window: MainWindow, host: OrchestratorHost) -> list[object]:
    """The tray icon and quick-ask window (engineer B), when present; kept alive by the caller."""
    try:
        from allma_desktop.gui.controllers.chat_controller import ChatController
        from allma_desktop.gui.tray import TrayIcon
        from allma_desktop.gui.widgets.quick_ask import QuickAskWindow
    except ImportError as error:
        log.info("tray unavailable: %s", error)
        return []
    from allma_desktop.gui.global_shortcut import GlobalShortcut

    quick_ask = QuickAskWindow(lambda: ChatController(host), host.events)
    # The quick-ask key for the whole desktop (an X11 grab, a Windows hot key), set in Settings.
    shortcut = GlobalShortcut(window)
    window.quick_ask_shortcut = shortcut
    tray = TrayIcon(window, host.events, quick_ask, shortcut=shortcut)
    return [quick_ask, tray, shortcut]
