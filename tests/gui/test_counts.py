"""After Cancel, every view counts the library the same way and says "cancelled".

The Library's header, the status bar and the chat's collection picker count with one
function (``library_counts``); a file stopped by Cancel is "cancelled", never "could not
be read", there and in the notice and the tray's notification.
"""

from __future__ import annotations

from pathlib import Path

from pytestqt.qtbot import QtBot

from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.tray import notification_text
from allma_desktop.gui.widgets.library_pane import LibraryPane
from tests.gui.test_library import notes, statuses
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_text

TIMEOUT_MS = 30_000


def test_after_cancel_the_header_the_status_bar_and_the_picker_agree_and_say_cancelled(
    qtbot: QtBot, window: MainWindow, tmp_path: Path, ollama_server: OllamaTestServer
) -> None:
    pane = window.library_page
    assert isinstance(pane, LibraryPane)
    controller = pane.controller
    summaries: list[object] = []
    controller.batch_finished.connect(summaries.append)
    ready = write_text(tmp_path / "garden.txt")
    controller.add_paths([str(ready)])
    qtbot.waitUntil(lambda: statuses(pane).get("garden.txt") == "ready", timeout=TIMEOUT_MS)
    ollama_server.faults.embed_delay = 0.5
    controller.add_paths([str(p) for p in notes(tmp_path / "many", 3)])
    qtbot.waitUntil(lambda: "indexing" in statuses(pane).values(), timeout=TIMEOUT_MS)

    pane.cancel_button.click()

    qtbot.waitUntil(
        lambda: not controller.busy and any(s.cancelled for s in summaries),  # type: ignore[attr-defined]
        timeout=TIMEOUT_MS,
    )
    library = window.host.orchestrator.library  # type: ignore[union-attr]

    def settled() -> bool:  # every cancelled file's row is written, and shown
        shown = list(statuses(pane).values()).count("cancelled")
        return (
            shown > 0
            and "indexing" not in statuses(pane).values()
            and (library.counts().cancelled == shown)
        )

    qtbot.waitUntil(settled, timeout=TIMEOUT_MS)
    cancelled = list(statuses(pane).values()).count("cancelled")
    expected = f"1 document · 1 passage · {cancelled} cancelled"

    def status_bar_says_it() -> bool:
        window.health.check_now()  # a check begun before the rows were written is stale
        return window.status.library.text() == expected

    qtbot.waitUntil(status_bar_says_it, timeout=TIMEOUT_MS)
    window.chat_view.refresh_choices()
    qtbot.waitUntil(
        lambda: "(1 document)" in window.chat_view.collection_box.itemText(0), timeout=TIMEOUT_MS
    )
    pane._update_summary()  # at once, not after its coalescing timer

    assert pane.summary_label.text().endswith(" · " + expected)
    for text in (pane.notice_label.text(), " ".join(notification_text(summaries[-1]))):  # type: ignore[arg-type]
        assert f"{cancelled} cancelled" in text and "could not be read" not in text
