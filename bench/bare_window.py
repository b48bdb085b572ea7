"""The baseline of the start-up row: a bare PySide6 main window, shown and painted.

    python bench/bare_window.py --measure-startup

It answers ``--measure-startup`` exactly as the app does (``allma_desktop.selftest``):
once a QMainWindow has painted its first frame it prints
``startup: first-paint-epoch=<t>`` and quits. Nothing else is imported, so the figure is
the floor: Python, Qt and one empty window of the app's size.
"""

from __future__ import annotations

import sys
import time

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QWidget


class FirstPaintWatch(QObject):
    """Prints the wall-clock time of the main window's first full frame, then quits."""

    def __init__(self, application: QApplication) -> None:
        super().__init__(application)
        self._application = application
        self._seen = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt's name
        if (
            not self._seen
            and event.type() == QEvent.Type.Paint
            and isinstance(watched, QWidget)
            and watched.window().inherits("QMainWindow")
        ):
            self._seen = True
            QTimer.singleShot(0, self._report)  # once the whole frame has been painted
        return False

    def _report(self) -> None:
        print(f"startup: first-paint-epoch={time.time():.3f}", flush=True)
        self._application.quit()


def main() -> int:
    app = QApplication(sys.argv)
    if "--measure-startup" in sys.argv:
        watch = FirstPaintWatch(app)
        app.installEventFilter(watch)
    window = QMainWindow()
    window.setWindowTitle("bare")
    window.resize(1100, 720)  # the app's default size
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
