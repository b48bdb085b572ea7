"""Screenshots of the chat's options, on a real X display: "what the model reads" open,
and the token meter beside it with its tooltip, for documents that fit (light) and for
documents too long, summarised in parts (dark).

The drop-down list of a combo box is a window of its own, which a widget's grab does not
show: this runs the app on an X server (Xvfb) and takes the screen.

    Xvfb :74 -screen 0 1400x900x24 & DISPLAY=:74 icewm &
    DISPLAY=:74 QT_QPA_PLATFORM=xcb .venv/bin/python bench/screenshots_context_mode.py [out_dir]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PySide6.QtCore import QPoint  # noqa: E402
from PySide6.QtWidgets import QApplication, QToolTip  # noqa: E402

from allma_desktop.config import AppConfig  # noqa: E402
from allma_desktop.gui.main_window import MainWindow  # noqa: E402
from bench.screenshots import (  # noqa: E402
    apply_theme,
    close_window,
    open_window,
    run_capture,
    settle,
    wait_signal,
)
from tests.orchestrator.test_whole_documents import long_pdf  # noqa: E402
from tests.support.ollama_server import OllamaTestServer  # noqa: E402
from tests.support.sample_docs import make_sample_library  # noqa: E402


async def capture(app: QApplication, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="allma-shots-") as folder, OllamaTestServer() as server:
        data = Path(folder)
        apply_theme(app, "light")
        window = await open_window(app, AppConfig(ollama_host=server.url, data_dir=data / "data"))
        orchestrator = window.host.orchestrator
        assert orchestrator is not None
        library = make_sample_library(data / "Documents")
        async for _ in orchestrator.ingest([str(library.pdf)]):
            pass
        window.host.events.documents_changed.emit()
        window.new_chat()
        view = window.chat_view
        view.context_box.setCurrentIndex(view.context_box.findText("Whole document"))
        view.input.setPlainText("How many watts is the xenon bulb rated at?")
        finished = asyncio.ensure_future(wait_signal(window.chat_controller.finished))
        view.submit()
        await finished
        await settle(app, 1.0)
        window.activateWindow()
        view.context_box.showPopup()
        await settle(app, 0.8)
        path = out / "chat-context-options.png"
        subprocess.run(["import", "-window", "root", str(path)], check=True)
        print(f"saved {path}")
        view.context_box.hidePopup()
        await settle(app, 0.3)
        await meter_shot(app, window, out / "chat-context-meter.png")

        # Forty more pages: too long for the context; a summary is made in parts.
        apply_theme(app, "dark")
        async for _ in orchestrator.ingest([str(long_pdf(data / "Documents"))]):
            pass
        window.host.events.documents_changed.emit()
        window.new_chat()
        view.context_box.setCurrentIndex(view.context_box.findText("Whole document"))
        view.input.setPlainText("Summarise the harbour notes on the dredged basin")
        finished = asyncio.ensure_future(wait_signal(window.chat_controller.finished))
        view.submit()
        await finished
        await settle(app, 1.5)
        await meter_shot(app, window, out / "chat-context-meter-over-dark.png")
        await close_window(window)


async def meter_shot(app: QApplication, window: MainWindow, path: Path) -> None:
    """The window with the meter's tooltip shown, as a hover shows it."""
    meter = window.chat_view.context_meter
    for _ in range(50):  # the measure runs off the GUI thread
        if meter.isVisible():
            break
        await settle(app, 0.1)
    window.activateWindow()
    QToolTip.showText(meter.mapToGlobal(QPoint(0, meter.height() + 4)), meter.toolTip(), meter)
    await settle(app, 0.8)
    subprocess.run(["import", "-window", "root", str(path)], check=True)
    print(f"saved {path}")
    QToolTip.hideText()


def main() -> int:
    return run_capture(capture)


if __name__ == "__main__":
    sys.exit(main())
