"""``--version``, ``--self-test`` and ``--measure-startup``: checks a packaged build runs.

The self-test is headless and needs neither Ollama nor the user's library: in a
temporary data folder it ingests the bundled sample documents (a PDF, a Markdown
note and a scanned page that only OCR can read, with no ``tesseract`` program on PATH:
MuPDF's built-in engine and the bundled language data do it), searches them, and
checks both databases. Ollama's embedding model is replaced
by a small hashing embedder (word counts folded into a fixed-size vector), so the real
parse -> chunk -> vector store -> keyword index -> retrieval path runs end to end and
no network is touched. It prints one line and returns 0 (passed) or 1 (failed).

This module is imported by the GUI entry point before Qt starts: keep its top-level
imports light (chromadb, pymupdf and the orchestrator load only when a check runs).
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from allma_desktop import __version__
from allma_desktop.bundle import resource_path

if TYPE_CHECKING:
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication

    from allma_desktop.events import FileFinished
    from allma_desktop.orchestrator import Orchestrator

VERSION_TEXT = f"Allma Desktop {__version__}"
SAMPLE_FILES = ("allma-sample.pdf", "allma-sample.md", "allma-sample-scan.pdf")
SCANNED_SAMPLE = "allma-sample-scan.pdf"  # its passage must come back marked as OCR'd
# (query, file the best passage must come from, page it must be on; None: no page)
SEARCHES = (
    ("When does the lighthouse keeper log the tide?", "allma-sample.pdf", 2),
    ("what does sourdough need", "allma-sample.md", None),
    ("When does the ferry to the island leave the harbour?", SCANNED_SAMPLE, 1),
)
EMBEDDING_DIMENSIONS = 256
UNREACHABLE_OLLAMA = "http://127.0.0.1:9"  # discard port: any real Ollama call fails fast
_WORD = re.compile(r"\w+")


class SelfTestFailure(Exception):
    """One self-test step found a problem; the message says which and what."""


@dataclass
class SelfTestResult:
    passed: bool
    verdict: str  # one line for the terminal
    steps: list[str] = field(default_factory=list)  # what was checked, in order


# --- entry points ------------------------------------------------------------------


def handle_packaging_flags(arguments: Sequence[str]) -> int | None:
    """Act on ``--version`` / ``--self-test`` (return the exit code) or arm
    ``--measure-startup`` (return None: the app starts as usual, then quits)."""
    flags = set(arguments[1:])
    if "--version" in flags:
        print(VERSION_TEXT)
        return 0
    if "--self-test" in flags:
        result = run_self_test()
        print(result.verdict)
        return 0 if result.passed else 1
    if "--measure-startup" in flags:
        arm_startup_measurement(arguments)
    return None


def run_self_test(check_qt: bool = True) -> SelfTestResult:
    """Run every check in a throwaway data folder; never raises for a failed check."""
    started = time.perf_counter()
    result = SelfTestResult(passed=False, verdict="")
    step = "setup"
    try:
        if check_qt:
            step = "qt"
            result.steps.append(_check_qt())
        with tempfile.TemporaryDirectory(prefix="allma-self-test-") as folder:
            step = "library"
            result.steps.extend(asyncio.run(_check_library(Path(folder))))
            step = "database"
            result.steps.append(_check_databases(Path(folder) / "data"))
    except Exception as error:  # the verdict must name any failure, whatever raised it
        result.verdict = f"{VERSION_TEXT} self-test FAILED at {step}: {_one_line(error)}"
        return result
    seconds = time.perf_counter() - started
    result.passed = True
    result.verdict = (
        f"{VERSION_TEXT} self-test passed in {seconds:.1f} s: "
        + "; ".join(result.steps)
        + " (embeddings from a built-in stand-in; Ollama not used)"
    )
    return result


# --- the checks ----------------------------------------------------------------------


def _check_qt() -> str:
    """The bundled Qt plugins load: offscreen platform, PNG and SVG images, SVG icons."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QIcon, QImageReader

    app = QGuiApplication.instance() or QGuiApplication([sys.argv[0], "-platform", "offscreen"])
    formats = {bytes(name.data()).decode() for name in QImageReader.supportedImageFormats()}
    missing = {"png", "svg"} - formats
    if missing:
        raise SelfTestFailure(f"Qt cannot read {', '.join(sorted(missing))} images")
    icon = QIcon(str(resource_path("icons", "allma.svg")))
    if icon.pixmap(48, 48).isNull():
        raise SelfTestFailure("the app icon (SVG) does not render")
    del app
    return f"Qt {_qt_version()} plugins ok"


async def _check_library(folder: Path) -> list[str]:
    from allma_desktop.config import AppConfig
    from allma_desktop.events import IngestFinished
    from allma_desktop.orchestrator import Orchestrator

    documents = folder / "documents"
    documents.mkdir()
    samples = [shutil.copy2(resource_path("samples", name), documents) for name in SAMPLE_FILES]
    config = AppConfig(data_dir=folder / "data", ollama_host=UNREACHABLE_OLLAMA, ocr=True)
    orchestrator = Orchestrator(config, offline_embedding=hashed_embedding)
    await orchestrator.open()
    # The parse worker starts with the first file and inherits this PATH: no tesseract.
    saved_path = os.environ.get("PATH")
    os.environ["PATH"] = _path_without_tesseract(saved_path or "")
    try:
        finished: IngestFinished | None = None
        async for event in orchestrator.ingest(samples):
            if isinstance(event, IngestFinished):
                finished = event
        assert finished is not None
        failed = [f for f in finished.results if f.status != "indexed"]
        if finished.error is not None or failed:
            raise SelfTestFailure(_ingest_problem(finished.error, failed))
        chunks = sum(f.chunks for f in finished.results)
        steps = [f"ingested {len(samples)} sample documents ({chunks} passages)"]
        for query, expected_file, expected_page in SEARCHES:
            steps.append(await _check_search(orchestrator, query, expected_file, expected_page))
        report = await orchestrator.doctor()
        if not report.ok:
            problems = "; ".join(str(p.as_dict()) for p in report.remaining)
            raise SelfTestFailure(f"the doctor found problems: {problems}")
        return steps
    finally:
        if saved_path is None:
            os.environ.pop("PATH", None)
        else:
            os.environ["PATH"] = saved_path
        await orchestrator.close()


def _path_without_tesseract(path: str) -> str:
    """``path`` without the folders that hold a ``tesseract`` program: OCR must not need one."""
    names = ("tesseract", "tesseract.exe")
    kept = [
        folder
        for folder in path.split(os.pathsep)
        if folder and not any((Path(folder) / name).exists() for name in names)
    ]
    return os.pathsep.join(kept)


async def _check_search(
    orchestrator: Orchestrator, query: str, expected_file: str, expected_page: int | None
) -> str:
    sources = await orchestrator.search(query, k=3)
    if not sources:
        raise SelfTestFailure(f"no passage found for {query!r}")
    best = sources[0]
    where = Path(best.path).name + (f" page {best.page}" if best.page is not None else "")
    if Path(best.path).name != expected_file or best.page != expected_page:
        raise SelfTestFailure(f"{query!r} found {where}, expected {expected_file}")
    if expected_file == SCANNED_SAMPLE:
        if not best.ocr:
            raise SelfTestFailure(f"{where} was found but not marked as read by OCR")
        return f"search found {where} (read by OCR)"
    return f"search found {where}"


def _check_databases(data_dir: Path) -> str:
    """SQLite's integrity check on our database and Chroma's."""
    databases = [data_dir / "allma.sqlite3", *sorted(data_dir.glob("vectors/*.sqlite3"))]
    databases = [path for path in databases if path.exists()]
    if len(databases) < 2:
        found = ", ".join(p.name for p in databases) or "none"
        raise SelfTestFailure(f"expected the library and the vector databases, found {found}")
    for path in databases:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
        finally:
            connection.close()
        if rows != [("ok",)]:
            raise SelfTestFailure(f"{path.name} failed integrity_check: {rows[:3]}")
    return f"integrity_check ok on {len(databases)} databases"


# --- the stand-in for Ollama's embedding model ----------------------------------------


def hashed_embedding(text: str, dimensions: int = EMBEDDING_DIMENSIONS) -> list[float]:
    """Word counts folded into ``dimensions`` buckets, unit length: a deterministic
    embedding good enough to find a passage that shares words with the query."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        vector[zlib.crc32(word.encode()) % dimensions] += 1.0
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


# --- --measure-startup ------------------------------------------------------------------

_startup_watch: QObject | None = None  # kept alive for the life of the app


def arm_startup_measurement(arguments: Sequence[str]) -> None:
    """Create the QApplication now and print, once the main window has painted its first
    frame, how long after process start that was; then quit the app."""
    global _startup_watch
    from PySide6.QtCore import QEvent, QObject, QTimer
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication.instance() or QApplication(list(arguments))
    assert isinstance(app, QApplication)

    class FirstPaintWatch(QObject):
        def __init__(self, application: QApplication) -> None:
            super().__init__(application)
            self._application = application
            self._seen = False

        def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # Qt's name
            if (
                not self._seen
                and event.type() == QEvent.Type.Paint
                and isinstance(watched, QWidget)
                and watched.window().inherits("QMainWindow")
            ):
                self._seen = True
                # Deferred: the time is taken once the whole frame has been painted.
                QTimer.singleShot(0, self._report)
            return False

        def _report(self) -> None:
            print(startup_line(time.time()), flush=True)
            self._application.quit()

    _startup_watch = FirstPaintWatch(app)
    app.installEventFilter(_startup_watch)


def startup_line(now: float) -> str:
    """``first-paint-epoch=<t> since-process-start=<s>``, read by packaging/measure_startup.py."""
    age = process_age_seconds()
    since = f"{age:.3f}" if age is not None else "unknown"
    return f"startup: first-paint-epoch={now:.3f} since-process-start={since}"


def process_age_seconds() -> float | None:
    """Seconds since this process started (Linux /proc; None elsewhere)."""
    try:
        stat = Path("/proc/self/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except OSError:
        return None
    # Field 22 (starttime, in clock ticks since boot) counts from after the ")" of comm.
    start_ticks = int(stat.rsplit(")", 1)[1].split()[19])
    return uptime - start_ticks / os.sysconf("SC_CLK_TCK")


# --- helpers -------------------------------------------------------------------------------


def _ingest_problem(error: Exception | None, failed: Sequence[FileFinished]) -> str:
    if error is not None:
        return f"ingest stopped: {_one_line(error)}"
    return "; ".join(f"{Path(f.path).name}: {f.status} {f.reason}" for f in failed)


def _qt_version() -> str:
    from PySide6.QtCore import qVersion

    return str(qVersion())


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"{type(error).__name__}: {text}" if not isinstance(error, SelfTestFailure) else text
