"""Each file dialog opens where the user last went for the same purpose, across restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.library_controller import LibraryController
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.recent_folders import start_folder
from allma_desktop.gui.widgets.library_pane import LibraryPane
from allma_desktop.gui.widgets.settings.storage import StorageCard


class Dialogs:
    """Stands in for QFileDialog: records the folder each dialog opened in, answers ``chosen``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened_in: list[str] = []
        self.chosen: str = ""

        def files(_parent: object, _title: str, start: str, *_rest: object) -> object:
            self.opened_in.append(start)
            return ([self.chosen] if self.chosen else []), ""

        def one(_parent: object, _title: str, start: str, *_rest: object) -> object:
            self.opened_in.append(start)
            return self.chosen, ""

        def folder(_parent: object, _title: str, start: str, *_rest: object) -> object:
            self.opened_in.append(start)
            return self.chosen

        monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(files))
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(one))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(one))
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(folder))


@pytest.fixture
def dialogs(monkeypatch: pytest.MonkeyPatch) -> Dialogs:
    return Dialogs(monkeypatch)


def library_pane(qtbot: QtBot, host: OrchestratorHost) -> LibraryPane:
    pane = LibraryPane(LibraryController(host))
    qtbot.addWidget(pane)
    pane.controller.add_paths = lambda *_a, **_k: None  # type: ignore[method-assign]
    return pane


def test_add_documents_opens_in_the_folder_of_the_last_files_added_after_a_restart(
    qtbot: QtBot, host: OrchestratorHost, dialogs: Dialogs, tmp_path: Path
) -> None:
    papers = tmp_path / "papers"
    papers.mkdir()
    (papers / "a.txt").write_text("a")
    dialogs.chosen = str(papers / "a.txt")
    library_pane(qtbot, host).choose_files()
    assert dialogs.opened_in == [str(Path.home())]  # the first time: the home folder

    dialogs.chosen = ""
    library_pane(qtbot, host).choose_files()  # a new window, as after a restart

    assert dialogs.opened_in[-1] == str(papers)


def test_each_purpose_keeps_its_own_folder(
    qtbot: QtBot, host: OrchestratorHost, dialogs: Dialogs, tmp_path: Path
) -> None:
    papers, projects = tmp_path / "papers", tmp_path / "projects"
    (projects / "thesis").mkdir(parents=True)
    papers.mkdir()
    (papers / "a.txt").write_text("a")
    pane = library_pane(qtbot, host)
    dialogs.chosen = str(papers / "a.txt")
    pane.choose_files()
    dialogs.chosen = str(projects / "thesis")
    pane.add_folders = lambda _folders: None  # type: ignore[method-assign]
    pane.choose_folder()
    dialogs.chosen = ""

    pane.choose_files()
    pane.choose_folder()

    # Files: where they were; a folder: beside it, ready for the next one.
    assert dialogs.opened_in[-2:] == [str(papers), str(projects)]


def test_backup_and_restore_open_where_the_last_backup_went(
    qtbot: QtBot,
    host: OrchestratorHost,
    dialogs: Dialogs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    card = StorageCard(SettingsController(host))
    qtbot.addWidget(card)
    dialogs.chosen = str(backups / "allma.allma-backup.zip")
    card.controller.back_up = lambda _path: None  # type: ignore[method-assign]
    card.back_up()
    dialogs.chosen = ""
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *_a: None))

    card.restore()

    assert dialogs.opened_in[-1] == str(backups)


def test_a_remembered_folder_that_is_gone_opens_its_nearest_parent(
    qtbot: QtBot, host: OrchestratorHost, dialogs: Dialogs, tmp_path: Path
) -> None:
    drive = tmp_path / "drive" / "papers"
    drive.mkdir(parents=True)
    (drive / "a.txt").write_text("a")
    dialogs.chosen = str(drive / "a.txt")
    library_pane(qtbot, host).choose_files()
    (drive / "a.txt").unlink()
    drive.rmdir()  # unplugged, deleted

    assert start_folder("add_documents") == tmp_path / "drive"
