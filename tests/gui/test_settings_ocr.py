"""The Settings card "Scans and pictures (OCR)": the switch, the languages, and adding one
from a folder (a real .traineddata file) or by download (from a package index on loopback,
no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig, settings_path
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.settings.ocr import OCR_UNAVAILABLE_HINT
from allma_desktop.gui.widgets.settings.page import SettingsPage
from allma_desktop.services.documents import ocr
from tests.support.tessdata import (
    PackageIndex,
    closed_port,
    folder_with,
    installed_data,
    package_index,
    silent_index,
    use_index,
)

TIMEOUT_MS = 20_000


def open_page(qtbot: QtBot, host: OrchestratorHost) -> SettingsPage:
    page = SettingsPage(SettingsController(host))
    qtbot.addWidget(page)
    return page


def listed(page: SettingsPage) -> dict[str, tuple[str, bool]]:
    """Each listed language's code: its text, and whether it is ticked."""
    box = page.ocr.language_list
    items = [box.item(row) for row in range(box.count())]
    return {
        str(item.data(Qt.ItemDataRole.UserRole)): (
            item.text(),
            item.checkState() == Qt.CheckState.Checked,
        )
        for item in items
        if item is not None
    }


@pytest.fixture
def english_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = folder_with(tmp_path / "installed", "eng")
    monkeypatch.setenv(ocr.TESSDATA_ENV, str(folder))
    return folder


def test_ocr_is_on_by_default_and_turning_it_off_is_saved(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    page = open_page(qtbot, host)
    assert page.ocr.ocr_check.isEnabled() and page.ocr.ocr_check.isChecked()

    page.ocr.ocr_check.setChecked(False)
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert AppConfig.from_env().ocr is False
    assert '"ocr": false' in settings_path().read_text(encoding="utf-8")


def test_english_is_listed_and_ticked(
    qtbot: QtBot, host: OrchestratorHost, english_only: Path
) -> None:
    page = open_page(qtbot, host)

    assert listed(page) == {"eng": ("English (eng)", True)}


def test_a_language_added_from_a_folder_is_listed_ticked_and_saved(
    qtbot: QtBot,
    host: OrchestratorHost,
    english_only: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picked = folder_with(tmp_path / "tessdata", "deu")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(picked))
    page = open_page(qtbot, host)

    page.ocr.code_edit.setText("deu")
    with qtbot.waitSignal(page.controller.ocr_language_added, timeout=TIMEOUT_MS):
        page.ocr.folder_button.click()

    assert listed(page)["deu"] == ("German (deu) · added", True)
    assert "German (deu) added" in page.ocr.add_status.text()
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()
    assert AppConfig.from_env().ocr_languages == "eng+deu"
    own = host.config.data_dir / "ocr-languages"
    assert (own / "deu.traineddata").read_bytes() == installed_data("deu").read_bytes()


def test_a_folder_without_language_data_is_refused_naming_it(
    qtbot: QtBot,
    host: OrchestratorHost,
    english_only: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picked = tmp_path / "holiday photos"
    picked.mkdir()
    (picked / "beach.jpg").write_bytes(b"\xff\xd8\xff")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(picked))
    page = open_page(qtbot, host)

    page.ocr.code_edit.setText("deu")
    with qtbot.waitSignal(page.controller.ocr_language_failed, timeout=TIMEOUT_MS):
        page.ocr.folder_button.click()

    text = page.ocr.add_status.text()
    assert f"The folder {picked} holds no deu.traineddata" in text
    assert page.ocr.add_status.objectName() == "fieldError"
    assert listed(page) == {"eng": ("English (eng)", True)}
    assert page.ocr.folder_button.isEnabled() and page.ocr.download_button.isEnabled()


def test_without_any_language_data_ocr_is_off_until_one_is_added(
    qtbot: QtBot, host: OrchestratorHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ocr.TESSDATA_ENV, str(tmp_path / "no-language-data"))
    picked = folder_with(tmp_path / "tessdata", "eng")
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(picked))
    page = open_page(qtbot, host)
    assert not page.ocr.ocr_check.isEnabled()
    assert page.ocr.ocr_hint.text() == OCR_UNAVAILABLE_HINT
    assert listed(page) == {"eng": ("eng · data missing", True)}

    # No code typed: the folder's only language is taken.
    with qtbot.waitSignal(page.controller.ocr_language_added, timeout=TIMEOUT_MS):
        page.ocr.folder_button.click()

    assert page.ocr.ocr_check.isEnabled()
    assert listed(page) == {"eng": ("English (eng) · added", True)}


def test_a_download_without_network_says_so_and_offers_the_folder(
    qtbot: QtBot,
    host: OrchestratorHost,
    english_only: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_index(monkeypatch, f"http://127.0.0.1:{closed_port()}/simple")
    page = open_page(qtbot, host)
    page.show()

    page.ocr.code_edit.setText("deu")
    with qtbot.waitSignal(page.controller.ocr_language_failed, timeout=60_000):
        page.ocr.download_button.click()
        assert page.ocr.cancel_button.isVisible() and page.ocr.progress.isVisible()

    text = page.ocr.add_status.text()
    assert "seems to be offline" in text and "From a folder" in text
    assert not page.ocr.cancel_button.isVisible() and not page.ocr.progress.isVisible()
    assert "deu" not in listed(page)


def test_download_needs_a_language_code(
    qtbot: QtBot, host: OrchestratorHost, english_only: Path
) -> None:
    page = open_page(qtbot, host)

    page.ocr.download_button.click()

    assert "Type the code of the language" in page.ocr.add_status.text()
    assert page.ocr.download_button.isEnabled()


def test_a_downloaded_language_shows_progress_then_is_listed_ticked(
    qtbot: QtBot,
    host: OrchestratorHost,
    english_only: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    page = open_page(qtbot, host)
    progress: list[tuple[int, int]] = []
    page.controller.ocr_language_progress.connect(lambda *report: progress.append(report))
    with package_index(PackageIndex()) as index:
        index.add("deu")
        use_index(monkeypatch, index.address)
        page.ocr.code_edit.setText("deu")
        with qtbot.waitSignal(page.controller.ocr_language_added, timeout=60_000):
            page.ocr.download_button.click()

    assert progress and progress[-1][0] == progress[-1][1]
    assert listed(page)["deu"] == ("German (deu) · added", True)
    assert page.ocr.changes()["ocr_languages"] == "eng+deu"


def test_cancel_stops_a_stalled_download(
    qtbot: QtBot, host: OrchestratorHost, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_page(qtbot, host)
    page.show()
    with silent_index() as index:
        use_index(monkeypatch, index)
        page.ocr.code_edit.setText("deu")
        page.ocr.download_button.click()
        assert page.ocr.cancel_button.isVisible()
        with qtbot.waitSignal(page.controller.ocr_language_failed, timeout=TIMEOUT_MS):
            page.ocr.cancel_button.click()

    assert page.ocr.add_status.text() == "Download cancelled."
    assert page.ocr.download_button.isEnabled() and not page.ocr.cancel_button.isVisible()
    assert "deu" not in listed(page)


def test_a_download_cut_short_says_it_arrived_damaged_and_adds_nothing(
    qtbot: QtBot, host: OrchestratorHost, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = open_page(qtbot, host)
    page.show()
    with package_index(PackageIndex()) as index:
        index.cut_after = len(index.add("deu")) // 2
        use_index(monkeypatch, index.address)
        page.ocr.code_edit.setText("deu")
        with qtbot.waitSignal(page.controller.ocr_language_failed, timeout=60_000):
            page.ocr.download_button.click()

    text = page.ocr.add_status.text()
    assert "arrived damaged" in text and "cut short" in text and "Try the download again" in text
    assert page.ocr.download_button.isEnabled() and not page.ocr.progress.isVisible()
    assert "deu" not in listed(page)
