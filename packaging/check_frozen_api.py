"""Check that a build's desktop app starts its local API: the one thing a build can lose
(FastAPI, uvicorn and their lazily imported parts) that ``--self-test`` does not touch.

    python packaging/check_frozen_api.py dist/allma/allma

Starts the app headless (Qt's offscreen platform unless a display is set) with fresh,
empty folders, the API turned on in its settings, a free port and an Ollama address
where nothing listens; then asks ``/health`` (no token), ``/openapi.json`` and
``/documents`` (with the token the app wrote), stops the app with SIGTERM and prints
one line. Exit 0 when all three answered 200 and the app exited within 30 s.

With ``--documents`` (CI passes it), Ollama is the project's test server
(tests/support/ollama_server.py, so this needs the checkout) and the frozen app also
ingests a PDF, a DOCX, a Markdown file and a WebP picture of text (Pillow, then OCR)
through ``POST /rag/ingest`` and finds each through ``POST /rag/search``: the parsers,
the embedding client and the vector store, as they were frozen, against the Ollama
protocol.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

STARTUP_TIMEOUT = 90.0
EXIT_TIMEOUT = 30.0
# Where the GUI keeps "API on" (QSettings: organization "Allma", application "Allma Desktop").
SETTINGS_FILE = Path("Allma") / "Allma Desktop.conf"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(
    url: str,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, bytes]:
    """GET ``url`` (POST ``body`` when given); the status and the body of the answer."""
    request = urllib.request.Request(url, data=body)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_for_health(base: str, app: subprocess.Popen[bytes]) -> tuple[int, bytes]:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if app.poll() is not None:
            raise SystemExit(f"the app exited ({app.returncode}) before its API answered")
        try:
            return get(f"{base}/health")
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)  # polling a port: there is no signal to wait on from outside
    raise SystemExit(f"the API did not answer within {STARTUP_TIMEOUT:.0f} s")


# What each document says, and a question only it answers (its file name must come first).
DOCUMENTS = {
    "harbour.pdf": ("The lighthouse keeper logs the tide at dawn.", "lighthouse keeper tide"),
    "bakery.docx": ("Sourdough needs a starter fed with rye flour.", "sourdough starter rye"),
    "orchard.md": ("# Orchard\n\nQuince trees flower late in the spring.\n", "quince trees flower"),
    # A picture of text: Pillow decodes WebP (the build keeps only part of Pillow), OCR reads it.
    "ferry.webp": ("The ferry leaves the harbour at noon.", "ferry noon"),
}
INGEST_TIMEOUT = 120.0


def write_documents(folder: Path) -> list[Path]:
    """A PDF, a DOCX, a Markdown file and a WebP picture of text, made here with PyMuPDF,
    python-docx and Pillow."""
    import docx  # type: ignore[import-untyped]
    import pymupdf  # type: ignore[import-untyped]

    folder.mkdir(parents=True)
    paths = []
    for name, (text, _question) in DOCUMENTS.items():
        path = folder / name
        if name.endswith(".pdf"):
            pdf = pymupdf.open()
            pdf.new_page().insert_text((72, 72), text)
            pdf.save(path)
            pdf.close()
        elif name.endswith(".webp"):
            from PIL import Image

            pdf = pymupdf.open()
            pdf.new_page(width=420, height=60).insert_text((10, 36), text, fontsize=18)
            pixmap = pdf[0].get_pixmap(dpi=200)
            pdf.close()
            Image.frombytes("RGB", (pixmap.width, pixmap.height), pixmap.samples).save(
                path, "WEBP", lossless=True
            )
        elif name.endswith(".docx"):
            document = docx.Document()
            document.add_paragraph(text)
            document.save(str(path))
        else:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def multipart(files: list[Path]) -> tuple[bytes, str]:
    """A multipart/form-data body with each file as a part named ``files``."""
    boundary = uuid.uuid4().hex
    body = b""
    for path in files:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            ).encode()
            + path.read_bytes()
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def ingest_and_search(base: str, token: str, files: list[Path]) -> list[str]:
    """Upload ``files``, wait for the job, search for each; the problems found (none: [])."""
    body, content_type = multipart(files)
    status, answer = get(f"{base}/rag/ingest", token, body, content_type)
    if status != 202:
        return [f"POST /rag/ingest answered {status}: {answer[:300]!r}"]
    job = json.loads(answer)
    deadline = time.monotonic() + INGEST_TIMEOUT
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)  # the job's progress is only offered by polling
        status, answer = get(f"{base}/rag/ingest/{job['id']}", token)
        job = json.loads(answer)
    problems = [
        f"{Path(result['path']).name} was {result['status']}: {result['reason']}"
        for result in job.get("results", [])
        if result["status"] != "indexed"
    ]
    if job["status"] != "finished" or len(job.get("results", [])) != len(files):
        problems.append(f"the ingest job ended {job['status']}: {job.get('error')}")
    for name, (_text, question) in DOCUMENTS.items():
        query = json.dumps({"query": question, "k": 3}).encode()
        status, answer = get(f"{base}/rag/search", token, query)
        found = [Path(hit["path"]).name for hit in json.loads(answer).get("results", [])]
        if status != 200 or not found or not found[0].endswith(name):
            problems.append(f"searching {question!r} gave {status} {found} (wanted {name} first)")
    return problems


@contextmanager
def test_ollama() -> Iterator[str]:
    """The project's Ollama-protocol test server (from the checkout); yields its URL."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.support.ollama_server import OllamaTestServer

    with OllamaTestServer() as server:
        yield server.url


def check(binary: str, folder: Path, ollama: str | None = None) -> int:
    port = free_port()
    env = dict(os.environ)
    env.update(
        HOME=str(folder / "home"),
        XDG_CONFIG_HOME=str(folder / "xdg-config"),
        ALLMA_DATA_DIR=str(folder / "data"),
        ALLMA_CONFIG_DIR=str(folder / "config"),
        ALLMA_LOG_DIR=str(folder / "log"),
        API_HOST="127.0.0.1",
        API_PORT=str(port),
        # Without --documents nothing listens there: Ollama is not needed.
        OLLAMA_HOST=ollama or f"http://127.0.0.1:{free_port()}",
    )
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    settings = folder / "xdg-config" / SETTINGS_FILE
    settings.parent.mkdir(parents=True)
    settings.write_text("[api]\nenabled=true\n", encoding="utf-8")
    log = (folder / "app-output.txt").open("wb")
    app = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        health_status, health_body = wait_for_health(base, app)
        token = (folder / "config" / "api-token").read_text(encoding="utf-8").strip()
        openapi_status, openapi_body = get(f"{base}/openapi.json", token)
        documents_status, _ = get(f"{base}/documents", token)
        problems = (
            ingest_and_search(base, token, write_documents(folder / "documents")) if ollama else []
        )
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            exit_code: int | None = app.wait(EXIT_TIMEOUT)
        except subprocess.TimeoutExpired:
            app.kill()
            exit_code = None
        log.close()
    paths = len(json.loads(openapi_body).get("paths", {})) if openapi_status == 200 else 0
    version = json.loads(health_body).get("version") if health_status == 200 else None
    passed = (health_status, openapi_status, documents_status) == (200, 200, 200)
    passed = passed and exit_code is not None and not problems
    ingested = f"; ingested and found {', '.join(DOCUMENTS)}" if ollama and not problems else ""
    print(
        f"API check {'passed' if passed else 'FAILED'}: /health {health_status} "
        f"(version {version}), /openapi.json {openapi_status} ({paths} paths), "
        f"/documents {documents_status}; app exited "
        f"{'with ' + str(exit_code) if exit_code is not None else 'only when killed'}"
        f"{ingested}"
    )
    for problem in problems:
        print(f"  {problem}")
    if not passed:
        sys.stdout.write((folder / "app-output.txt").read_text(errors="replace")[-4000:])
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary", help="the built app, e.g. dist/allma/allma")
    parser.add_argument(
        "--documents",
        action="store_true",
        help="also ingest and search a PDF, a DOCX, Markdown and WebP (needs the checkout)",
    )
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="allma-api-check-") as folder,
        test_ollama() if options.documents else nullcontext(None) as ollama,
    ):
        return check(str(Path(options.binary).resolve()), Path(folder), ollama)


if __name__ == "__main__":
    sys.exit(main())
