"""Quitting the app, whatever close-to-tray says: the tray menu, Ctrl+Q, SIGTERM, logout.

Close-to-tray turns a window's close into "hide"; a quit must get through it. Every
path that means "end the app" calls ``quit_application()``, which marks the app as
quitting (the tray's close filter then lets each close pass, so each window saves its
layout), closes the windows and ends the event loop; ``app.main`` then closes the engine
and its database.
"""

from __future__ import annotations

import logging

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
