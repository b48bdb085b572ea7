"""Keep and move in the app: export a chat as Markdown, back up the library, restore it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.conversations_controller import ConversationsController
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.settings.page import SettingsPage
from allma_desktop.gui.widgets.sidebar import Sidebar
from tests.gui.conftest import ingest, run_async
from tests.support.sample_docs import write_text

TIMEOUT_MS = 30_000


def choose_file(monkeypatch: pytest.MonkeyPatch, dialog: str, path: Path) -> None:
    """Make QFileDialog.<dialog> answer ``path`` without showing anything."""
    monkeypatch.setattr(QFileDialog, dialog, staticmethod(lambda *_a, **_k: (str(path), "")))


@pytest.fixture
def sidebar(qtbot: QtBot, host: OrchestratorHost) -> Iterator[Sidebar]:
    sidebar = Sidebar(ConversationsController(host))
    qtbot.addWidget(sidebar)
    yield sidebar


@pytest.fixture
def page(qtbot: QtBot, host: OrchestratorHost) -> Iterator[SettingsPage]:
    page = SettingsPage(SettingsController(host))
    qtbot.addWidget(page)
    yield page


def test_export_writes_the_conversation_as_markdown_with_its_question(
    qtbot: QtBot,
    host: OrchestratorHost,
    sidebar: Sidebar,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert host.orchestrator is not None
    conversations = host.orchestrator.conversations
    record = conversations.create()
    conversations.add_message(record.id, "user", "Where is the lighthouse key kept?")
    host.events.conversations_changed.emit()  # the sidebar lists it
    qtbot.waitUntil(lambda: sidebar.conversations.get(record.id) is not None, timeout=TIMEOUT_MS)
    target = tmp_path / "exported.md"
    choose_file(monkeypatch, "getSaveFileName", target)

    with qtbot.waitSignal(sidebar.conversations.exported, timeout=TIMEOUT_MS):
        sidebar.export(record.id)

    assert "Where is the lighthouse key kept?" in target.read_text(encoding="utf-8")
    assert sidebar.notice_label.isVisibleTo(sidebar)


def test_back_up_creates_an_archive_and_shows_where(
    qtbot: QtBot, page: SettingsPage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    archive = tmp_path / "library.allma-backup.zip"
    choose_file(monkeypatch, "getSaveFileName", archive)

    with qtbot.waitSignal(page.controller.backup_finished, timeout=TIMEOUT_MS):
        page.storage.backup_button.click()

    assert archive.is_file()
    assert str(archive) in page.storage.backup_status.text()


def test_restore_brings_back_a_document_removed_after_the_backup(
    qtbot: QtBot,
    host: OrchestratorHost,
    page: SettingsPage,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    ingest(qtbot, host, [write_text(tmp_path / "docs" / "baking.txt")])
    archive = tmp_path / "library.allma-backup.zip"
    choose_file(monkeypatch, "getSaveFileName", archive)
    with qtbot.waitSignal(page.controller.backup_finished, timeout=TIMEOUT_MS):
        page.storage.backup_button.click()
    orchestrator = host.orchestrator
    assert orchestrator is not None
    (document,) = orchestrator.list_documents()
    run_async(qtbot, orchestrator.remove_document(document.id))
    assert orchestrator.list_documents() == []
    choose_file(monkeypatch, "getOpenFileName", archive)
    monkeypatch.setattr(
        QMessageBox, "question", staticmethod(lambda *_a, **_k: QMessageBox.StandardButton.Yes)
    )

    with qtbot.waitSignal(page.controller.restore_finished, timeout=TIMEOUT_MS):
        page.storage.restore_button.click()

    qtbot.waitUntil(lambda: host.ready, timeout=TIMEOUT_MS)
    assert host.orchestrator is not None
    assert [d.id for d in host.orchestrator.list_documents()] == [document.id]
    assert "previous library is kept" in page.storage.backup_status.text()


def test_restoring_a_file_that_is_not_a_backup_says_so_inline(
    page: SettingsPage, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_a_backup = tmp_path / "notes.zip"
    not_a_backup.write_bytes(b"not a zip archive")
    choose_file(monkeypatch, "getOpenFileName", not_a_backup)

    page.storage.restore_button.click()

    assert page.storage.backup_status.isVisibleTo(page)
    assert page.storage.backup_status.objectName() == "fieldError"
