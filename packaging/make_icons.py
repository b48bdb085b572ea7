"""Write the platform icon files the spec uses from the app's SVG:
``packaging/windows/allma.ico`` (256 px) and ``packaging/macos/allma.icns`` (512 px).

Run on any platform before building for Windows or macOS (build.ps1 and
build-macos.sh call it): ``python packaging/make_icons.py``. Linux uses the hicolor
PNGs and the SVG in ``allma_desktop/resources/icons`` directly.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PACKAGING = Path(__file__).resolve().parent
TARGETS = ((PACKAGING / "windows" / "allma.ico", 256), (PACKAGING / "macos" / "allma.icns", 512))


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from allma_desktop.gui.theme import render_icon

    app = QGuiApplication(sys.argv[:1])
    for path, size in TARGETS:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not render_icon(size).save(str(path)):
            print(f"could not write {path}", file=sys.stderr)
            return 1
        print(f"wrote {path}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
