"""Screenshots of issue 18's screens, light and dark, for docs/screenshots/:

    DISPLAY=:72 QT_QPA_PLATFORM=xcb .venv/bin/python bench/screenshots_issue18.py [out_dir]

(under Xvfb with a window manager: the quick-ask key is then really taken on that display;
QT_QPA_PLATFORM=offscreen works too, and the Settings card says how to bind the command).
Runs the real app window over the Ollama test server in a throw-away data folder:
- the Library at 800x600 and 1440x900 after a Cancel, with a file that could not be read
  and files cancelled: the Status column on screen, the same counts in the header, the
  status bar and the chat's picker;
- Settings › Quick ask;
- the quick-ask popup opened again after an answer: empty, with "Show the last answer".
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QScrollArea
from screenshots import (  # type: ignore[import-not-found]
    apply_theme,
    close_window,
    open_window,
    run_capture,
    save_settled,
    settle,
    wait_until,
)

from allma_desktop.config import AppConfig
from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.global_shortcut import GlobalShortcut
from allma_desktop.gui.widgets.quick_ask import QuickAskWindow
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_QUESTION, make_sample_library, write_corrupt_pdf

SIZES = ((800, 600), (1440, 900))


async def both_themes(app: QApplication, widget: object, out: Path, name: str) -> None:
    for theme, suffix in (("light", ""), ("dark", "-dark")):
        apply_theme(app, theme)
        await settle(app, 0.6)
        await save_settled(widget, out, name + suffix)  # type: ignore[arg-type]
    apply_theme(app, "light")


async def capture(app: QApplication, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="allma-shots-") as folder, OllamaTestServer() as server:
        data = Path(folder)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        for settings_format in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
            QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(data / "qsettings"))
        apply_theme(app, "light")
        config = AppConfig(ollama_host=server.url, data_dir=data / "data")
        window = await open_window(app, config)
        window.quick_ask_shortcut = GlobalShortcut(window)  # as app.py does
        library = window.library_controller
        window.show_page("library")
        sample = make_sample_library(data / "Lighthouse manuals")
        pane = window.library_page
        library.add_paths([str(sample.folder)])

        def settled(documents: int) -> bool:
            counts = pane.model.counts()  # type: ignore[attr-defined]
            return counts.documents + counts.failed >= documents and not library.busy

        await wait_until(lambda: settled(5), 120)
        write_corrupt_pdf(data / "scanned-invoice.pdf")
        library.add_paths([str(data / "scanned-invoice.pdf")])
        await wait_until(lambda: settled(6), 60)
        inbox = data / "Inbox"
        inbox.mkdir()
        for number in range(4):
            (inbox / f"harbour-log-{number:02d}.txt").write_text(
                f"Harbour log {number}: the tide rose at dawn, the lamp was cleaned.\n", "utf-8"
            )
        server.faults.embed_delay = 1.0
        library.add_paths([str(inbox)])
        await wait_until(
            lambda: any(r.status == "indexing" for r in pane.model.rows),  # type: ignore[attr-defined]
            60,
        )
        library.cancel()
        await wait_until(lambda: not library.busy, 60)
        server.faults.embed_delay = 0.0
        window.health.check_now()
        window.chat_view.refresh_choices()
        await settle(app, 1.5)
        for width, height in SIZES:
            window.resize(width, height)
            await settle(app, 0.8)
            await both_themes(app, window, out, f"library-{width}x{height}")

        window.resize(1440, 900)
        window.show_page("settings")
        page = window.settings_page
        card = page.quick_ask  # type: ignore[attr-defined]
        scroll = page.findChild(QScrollArea, "settingsScroll")
        if scroll is not None and card is not None:
            scroll.ensureWidgetVisible(card, 0, 200)
        await settle(app, 0.6)
        await both_themes(app, card, out, "settings-quick-ask")

        popup = QuickAskWindow(lambda: ChatController(window.host), window.events)
        popup.open_popup()
        popup.input.setText(PDF_QUESTION)
        popup.ask()
        await wait_until(lambda: "Ask a follow-up" in popup.status_label.text(), timeout=60)
        popup.close()
        popup.open_popup()
        await settle(app, 0.5)
        await both_themes(app, popup, out, "quick-ask-reopened")
        popup.close()
        window.quick_ask_shortcut.close()
        window.show_page("chat")
        await close_window(window)


def main() -> int:
    return run_capture(capture)


if __name__ == "__main__":
    sys.exit(main())
