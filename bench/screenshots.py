"""Screenshots of every screen, with sample data, for docs/screenshots/*.png.

Runs the real app offscreen (no display needed) over the Ollama test server from
tests/ and generated sample documents, in a throw-away data folder:

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/screenshots.py [out_dir]
    ALLMA_SHOT_SIZE=800x600 QT_SCALE_FACTOR=2 ... bench/screenshots.py /tmp/shots

ALLMA_SHOT_FONT_PT=15 takes them with a larger font (as with the desktop's large text).

At 200% use an X server (Xvfb with a window manager) rather than offscreen, on a screen
big enough for the reader's 1600x900 at twice the pixels (3840x2160); the
docs/screenshots/*-200-percent.png files were taken that way:

    DISPLAY=:72 QT_QPA_PLATFORM=xcb QT_SCALE_FACTOR=2 ALLMA_SHOT_SIZE=800x600 \
        .venv/bin/python bench/screenshots.py /tmp/shots

Engineer B's screens (library, settings, quick ask) are added in ``capture_b_screens``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import qasync  # noqa: E402
from PySide6.QtCore import QSettings, SignalInstance  # noqa: E402
from PySide6.QtGui import QColor, QFont, QPalette  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from allma_desktop.config import AppConfig  # noqa: E402
from allma_desktop.gui.app import install_asyncgen_hooks  # noqa: E402
from allma_desktop.gui.main_window import MainWindow  # noqa: E402
from allma_desktop.gui.orchestrator_host import OrchestratorHost  # noqa: E402
from tests.support.ollama_server import LLAMA_3_2, OllamaTestServer  # noqa: E402
from tests.support.sample_docs import PDF_QUESTION, make_sample_library  # noqa: E402

# ALLMA_SHOT_SIZE=800x600 takes them at another window size (the smallest the app holds).
WINDOW_SIZE = tuple(
    int(n) for n in os.environ.get("ALLMA_SHOT_SIZE", "1240x800").lower().split("x", 1)
)
READER_WINDOW_SIZE = (1600, 900)

RICH_ANSWER = """Here is how the **lamp maintenance** schedule works, from the manual [1]:

### Weekly tasks

| Day | Task | Notes |
|---|---|---|
| Friday | Clean the lens | distilled water, soft cloth |
| Tuesday | Receive supplies | every second week |

1. Switch the lamp off and let it cool.
2. Clean the lens, then check the **xenon bulb** (3500 W).

A tiny script to log the readings:

```python
def log_reading(log, wind_knots: int) -> None:
    # Keepers record the weather twice a day
    log.append({"wind": wind_knots, "ok": wind_knots < 40})
```
"""


async def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


async def wait_signal(signal: SignalInstance, timeout: float = 30.0) -> tuple[Any, ...]:
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def done(*args: Any) -> None:
        if not future.done():
            future.set_result(args)

    signal.connect(done)
    try:
        return await asyncio.wait_for(future, timeout)
    finally:
        signal.disconnect(done)


async def settle(app: QApplication, seconds: float = 0.3) -> None:
    """Let layouts and the 50 ms render throttle finish before grabbing.

    The loop runs Qt's events while this sleeps; calling ``processEvents`` from inside a
    task instead would re-enter other tasks ("Cannot enter into task").
    """
    del app  # kept in the signature: every caller passes it
    await asyncio.sleep(seconds)


def save(widget: QWidget, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    widget.grab().save(str(path))
    print(f"saved {path}")
    return path


async def save_settled(widget: QWidget, out: Path, name: str, timeout: float = 15.0) -> Path:
    """Save ``widget`` once it has stopped changing: two grabs a quarter of a second apart
    are the same picture (on a loaded machine, at 200%, a fixed pause caught a message
    half laid out, its buttons over its table). After ``timeout`` it is saved as it is,
    and said so."""
    path = out / f"{name}.png"
    previous = widget.grab().toImage()
    deadline = time.monotonic() + timeout
    while True:
        await asyncio.sleep(0.25)
        current = widget.grab().toImage()
        if current == previous:
            break
        if time.monotonic() > deadline:
            print(f"{name}: still changing after {timeout:.0f} s; saved as it is")
            break
        previous = current
    current.save(str(path))
    print(f"saved {path}")
    return path


def apply_theme(app: QApplication, theme: str) -> None:
    """B's theme module when present; otherwise a plain Fusion palette of the right shade."""
    try:
        from allma_desktop.gui import theme as theme_module

        theme_module.apply_theme(app, theme)
        return
    except ImportError:
        pass
    app.setStyle("Fusion")
    palette = QPalette()
    if theme == "dark":
        for role, color in (
            (QPalette.ColorRole.Window, "#1a1c20"),
            (QPalette.ColorRole.Base, "#202329"),
            (QPalette.ColorRole.AlternateBase, "#262a31"),
            (QPalette.ColorRole.Text, "#e6e8eb"),
            (QPalette.ColorRole.WindowText, "#e6e8eb"),
            (QPalette.ColorRole.Button, "#262a31"),
            (QPalette.ColorRole.ButtonText, "#e6e8eb"),
            (QPalette.ColorRole.Highlight, "#4f8cff"),
        ):
            palette.setColor(role, QColor(color))
    app.setPalette(palette)


async def open_window(app: QApplication, config: AppConfig) -> MainWindow:
    host = OrchestratorHost(config)
    window = MainWindow(host)
    window.resize(*WINDOW_SIZE)
    window.show()
    await host.start()
    window.health.check_now()
    await wait_until(lambda: window.health.report is not None or not host.ready)
    await settle(app)
    return window


async def close_window(window: MainWindow) -> None:
    window.health.stop()
    window.close()
    await window.host.stop()


async def capture_chat(app: QApplication, config: AppConfig, data: Path, out: Path) -> MainWindow:
    window = await open_window(app, config)
    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    library = make_sample_library(data / "Documents")
    async for _ in orchestrator.ingest([str(library.folder)]):
        pass
    conversations = orchestrator.conversations
    for title in ("Greenhouse watering plan", "Bicycle chain care", "Sourdough feeding days"):
        conversations.create(title=title)
    demo = conversations.create(title="Lamp maintenance schedule")
    conversations.add_message(demo.id, "user", "Summarise the lamp maintenance schedule.")
    conversations.add_message(demo.id, "assistant", RICH_ANSWER, model="deepseek-r1:latest")
    window.host.events.conversations_changed.emit()
    window.host.events.documents_changed.emit()

    window.new_chat()
    view = window.chat_view
    view.input.setPlainText(PDF_QUESTION)
    finished = asyncio.ensure_future(wait_signal(window.chat_controller.finished))
    view.submit()
    await finished
    await settle(app)
    cited_conversation = view.conversation_id
    await show_reader(app, window)
    await save_settled(window, out, "reader-cited-answer")
    window.reader.close_reader()
    window.resize(*WINDOW_SIZE)
    await settle(app)
    await save_settled(window, out, "chat-cited-answer")
    window.cited_conversation = cited_conversation  # type: ignore[attr-defined]

    window.open_conversation(demo.id)
    await settle(app, 0.5)
    await save_settled(window, out, "chat-markdown")

    window.new_chat()
    await settle(app)
    await save_settled(window, out, "chat-empty")
    return window


async def show_reader(app: QApplication, window: MainWindow) -> None:
    """Click the last answer's first source chip and wait for the reader's page."""
    window.resize(*READER_WINDOW_SIZE)  # room for the chat and a readable page side by side
    await settle(app)
    answer = [m for m in window.chat_view.messages if m.role == "assistant"][-1]
    window.reader.canvas.clear()
    if answer.sources.chips:
        answer.sources.chips[0].click()
    reader = window.reader
    await wait_until(lambda: reader.canvas.image is not None and not reader.resizing)
    await settle(app, 0.5)


async def capture_first_run(app: QApplication, data: Path, out: Path) -> None:
    """The first-run panel when Ollama is not there and when the models are missing, in
    the light theme and then the dark one (``-dark``)."""
    unreachable = AppConfig(ollama_host="http://127.0.0.1:9", data_dir=data / "first-run")
    window = await open_window(app, unreachable)
    await wait_until(lambda: window.first_run.problem == "ollama_unreachable")
    await settle(app)
    await light_and_dark(app, window, out, "first-run-ollama")
    await close_window(window)

    with OllamaTestServer(models=[LLAMA_3_2]) as bare:
        missing = AppConfig(ollama_host=bare.url, data_dir=data / "first-run-models")
        window = await open_window(app, missing)
        await wait_until(lambda: window.first_run.problem == "models_missing")
        await settle(app)
        await light_and_dark(app, window, out, "first-run-models")
        await close_window(window)


async def light_and_dark(app: QApplication, widget: QWidget, out: Path, name: str) -> None:
    await save_settled(widget, out, name)
    apply_theme(app, "dark")
    await settle(app, 0.5)
    await save_settled(widget, out, f"{name}-dark")
    apply_theme(app, "light")
    await settle(app, 0.3)


# --- Engineer B's screens: library, settings, quick ask ---------------------------------


async def capture_b_screens(window: MainWindow, app: QApplication, out: Path) -> None:
    """Library (filled, indexing, empty, dark), settings, and the quick-ask popup.

    Waits with ``asyncio.sleep``, not ``settle``: processing Qt events from inside a task
    would re-enter the library's indexing task ("Cannot enter into task").
    """
    from dataclasses import replace

    from allma_desktop.gui.controllers.chat_controller import ChatController
    from allma_desktop.gui.widgets.quick_ask import QuickAskWindow
    from tests.support.sample_docs import write_corrupt_pdf

    orchestrator = window.host.orchestrator
    assert orchestrator is not None
    library = window.library_controller
    window.show_page("library")
    library.refresh_rows()
    await asyncio.sleep(0.3)
    await save_settled(window, out, "library")

    # Indexing in progress: a long report plus a few more files, embedded in small batches.
    incoming = Path(window.host.config.data_dir).parent / "Incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    report = incoming / "annual-report-2024.txt"
    report.write_text(
        "\n\n".join(f"Section {n}. The harbour reviewed berth {n}." * 6 for n in range(400)),
        encoding="utf-8",
    )
    for name in ("meeting-notes.md", "supplier-list.txt", "safety-checklist.txt"):
        (incoming / name).write_text(f"# {name}\n\nNotes about {name}.\n", encoding="utf-8")
    write_corrupt_pdf(incoming / "scanned-invoice.pdf")
    orchestrator.config = replace(orchestrator.config, embed_batch_size=2)
    library.add_paths([str(incoming)])

    def report_half_done() -> bool:
        row = window.library_page.model.row_for(str(report.resolve()))  # type: ignore[attr-defined]
        return row is not None and row.status == "indexing" and row.fraction > 0.35

    await wait_until(report_half_done, timeout=60)
    await asyncio.sleep(0.15)
    save(window, out, "library-indexing")
    await wait_until(lambda: not library.busy and not library.queued_paths, timeout=120)
    orchestrator.config = replace(orchestrator.config, embed_batch_size=32)
    await asyncio.sleep(0.3)
    await save_settled(window, out, "library-failed-row")

    before = library.current_collection_id
    creating = library.create_collection("Recipes")  # the op's task: it shows the new one
    if creating is not None:
        await creating
    await wait_until(lambda: library.current_collection_id != before)
    created = library.current_collection_id
    await asyncio.sleep(0.3)
    await save_settled(window, out, "library-empty")
    if created is not None and created != before:
        library.delete_collection(created)
        await wait_until(lambda: library.current_collection_id != created)

    window.show_page("settings")
    settings_page = window.settings_page
    settings_page.ollama.test_button.click()  # type: ignore[attr-defined]
    await wait_signal(window.settings_controller.connection_tested)
    await asyncio.sleep(0.3)
    await save_settled(window, out, "settings")
    # The vector store card, with FAISS picked: the store in use and the Move button.
    from PySide6.QtWidgets import QScrollArea

    scroll = settings_page.findChild(QScrollArea, "settingsScroll")
    store_card = settings_page.vector_store  # type: ignore[attr-defined]
    store_card.store_box.setCurrentIndex(store_card.store_box.findData("faiss"))
    if scroll is not None:
        scroll.ensureWidgetVisible(store_card, 0, 40)
    await asyncio.sleep(0.3)
    await save_settled(window, out, "settings-vector-store")
    store_card.store_box.setCurrentIndex(store_card.store_box.findData("chroma"))
    if scroll is not None:
        scroll.verticalScrollBar().setValue(0)

    popup = QuickAskWindow(lambda: ChatController(window.host), window.events)
    popup.open_popup()
    popup.input.setText(PDF_QUESTION)
    popup.ask()
    await wait_until(lambda: popup.continue_button.isEnabled())
    await wait_until(lambda: "Ask a follow-up" in popup.status_label.text(), timeout=30)
    await asyncio.sleep(0.3)
    await save_settled(popup, out, "quick-ask")
    popup.close()

    apply_theme(app, "dark")
    window.show_page("library")
    await asyncio.sleep(0.5)
    await save_settled(window, out, "library-dark")
    window.show_page("settings")
    await asyncio.sleep(0.3)
    await save_settled(window, out, "settings-dark")
    apply_theme(app, "light")
    window.show_page("chat")
    await asyncio.sleep(0.3)


async def capture_all(app: QApplication, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="allma-shots-") as folder, OllamaTestServer() as server:
        data = Path(folder)
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        for settings_format in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
            QSettings.setPath(settings_format, QSettings.Scope.UserScope, str(data / "qsettings"))
        apply_theme(app, "light")
        config = AppConfig(ollama_host=server.url, data_dir=data / "data")
        window = await capture_chat(app, config, data, out)
        await capture_b_screens(window, app, out)

        apply_theme(app, "dark")
        await settle(app, 0.5)
        window.open_conversation(window.conversations.model.conversation_id(0) or 0)
        await settle(app, 0.5)
        await save_settled(window, out, "chat-dark")
        window.open_conversation(window.cited_conversation)  # type: ignore[attr-defined]
        await settle(app, 0.5)
        await show_reader(app, window)
        await save_settled(window, out, "reader-dark")
        window.reader.close_reader()
        window.resize(*WINDOW_SIZE)
        await close_window(window)

        apply_theme(app, "light")
        await capture_first_run(app, data, out)


def run_capture(capture: Callable[[QApplication, Path], Awaitable[None]]) -> int:
    """Run ``capture(app, out)`` on a qasync loop as the app runs; ``out`` is the folder
    named on the command line, else docs/screenshots. Every screenshot script's main."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"
    app = QApplication(sys.argv[:1])
    # ALLMA_SHOT_FONT_PT=15: as a user who asked the desktop for large text (fonts grow,
    # the pixels do not: what a fixed pixel size cuts shows).
    app.setFont(QFont("DejaVu Sans", int(os.environ.get("ALLMA_SHOT_FONT_PT", "10"))))
    app.setQuitOnLastWindowClosed(False)  # windows come and go between screens
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # As the app does: abandoned HTTP streams are closed on this loop, not by the GC.
    restore_hooks = install_asyncgen_hooks(loop)
    try:
        with loop:
            loop.run_until_complete(capture(app, out))
    finally:
        restore_hooks()
    return 0


def main() -> int:
    return run_capture(capture_all)


if __name__ == "__main__":
    sys.exit(main())
