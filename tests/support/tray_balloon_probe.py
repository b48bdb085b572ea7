"""Shows the tray's "still running" balloon on a real X display and prints its colours.

    python -m tests.support.tray_balloon_probe THEME

Run under ``QT_QPA_PLATFORM=xcb`` on an X server with a system tray (where no
notification service is on D-Bus, Qt draws the balloon itself). Prints one JSON line:
the balloon's most common colour (its background, as painted) and its labels' text
colours, then exits.
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from PySide6.QtCore import QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLabel, QSystemTrayIcon, QWidget

from allma_desktop.gui.theme import app_icon, apply_theme

WAIT_MS = 5_000


def balloon(app: QApplication) -> QWidget | None:
    for widget in app.topLevelWidgets():
        if widget.metaObject().className() == "QBalloonTip" and widget.isVisible():
            return widget
    return None


def report(app: QApplication, tray: QSystemTrayIcon, waited: int = 0) -> None:
    tip = balloon(app)
    if tip is None:
        if waited >= WAIT_MS or not QSystemTrayIcon.isSystemTrayAvailable():
            print(json.dumps({"error": "no balloon shown"}), flush=True)
            app.exit(1)
            return
        QTimer.singleShot(100, lambda: report(app, tray, waited + 100))
        return
    image = tip.grab().toImage()
    counts: Counter[str] = Counter(
        image.pixelColor(x, y).name()
        for x in range(0, image.width(), 2)
        for y in range(0, image.height(), 2)
    )
    labels = [label for label in tip.findChildren(QLabel) if label.text()]
    print(
        json.dumps(
            {
                "background": counts.most_common(1)[0][0],
                "texts": {
                    label.text(): label.palette().color(QPalette.ColorRole.WindowText).name()
                    for label in labels
                },
            }
        ),
        flush=True,
    )
    app.exit(0)


def main(theme: str) -> int:
    app = QApplication(["allma-desktop"])
    apply_theme(app, theme)
    tray = QSystemTrayIcon(app_icon())
    tray.show()
    QTimer.singleShot(
        300,
        lambda: tray.showMessage(
            "Allma is still running", "Find it in the tray.", app_icon(), WAIT_MS
        ),
    )
    QTimer.singleShot(400, lambda: report(app, tray))
    return app.exec()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
