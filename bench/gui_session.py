"""The real app window on a qasync loop against the Ollama-protocol test server, for the
GUI benchmarks (``bench.gui_responsiveness``, ``bench.gui_memory``).

``run_session(work, ...)`` builds what ``allma_desktop.gui.app.main`` builds (offscreen
QApplication, the GUI-thread garbage collector, a qasync loop, the engine in fresh data
folders, the ``MainWindow`` with all its controllers, shown), opens the engine, awaits
``work(session)`` and shuts down the way the app does. Documents and answers are made
in code: ``write_big_pdf`` and ``markdown_answer``.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import re
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, TypeVar

from bench.common import instant_embedder

T = TypeVar("T")
CHAT_MODEL = "llama3.2:latest"
EMBED_MODEL = "instant:latest"
_WORDS = (
    "keeper lamp tide harbour beacon lens signal storm weather log entry wind north "
    "south gale fog horn rock shore vessel cargo pilot chart depth sounding mile light "
    "tower stair oil wick glass prism rotation night watch dawn report barometer rain "
    "swell current anchor buoy channel reef island coast survey record annual repair"
).split()


@dataclass
class Session:
    window: Any  # allma_desktop.gui.main_window.MainWindow
    server_pid: int  # the test server runs in a process of its own, as Ollama does


def write_big_pdf(path: Path, pages: int, words_per_page: int = 280) -> Path:
    """A PDF of ``pages`` pages of varied prose (seeded), a heading per page."""
    import pymupdf

    rng = random.Random(pages)
    # PyMuPDF is untyped: Any keeps mypy --strict quiet about each call.
    fitz: Any = pymupdf
    document = fitz.open()
    for number in range(1, pages + 1):
        words = " ".join(rng.choice(_WORDS) for _ in range(words_per_page))
        page = document.new_page()
        page.insert_textbox(
            fitz.Rect(72, 72, 540, 770), f"Section {number}\n\n{words}.", fontsize=9
        )
    document.save(path)
    document.close()
    return path


def markdown_answer(tokens: int) -> str:
    """A Markdown answer of exactly ``tokens`` whitespace-separated tokens (the test
    server streams one per line): paragraphs with citations, lists and code blocks."""
    rng = random.Random(tokens)
    pieces: list[str] = []
    count = 0
    block = 0
    while count < tokens:
        block += 1
        if block % 5 == 0:
            lines = [f"- {' '.join(rng.choice(_WORDS) for _ in range(8))}" for _ in range(4)]
            text = "\n".join(lines)
        elif block % 7 == 0:
            lines = [f"value_{i} = compute({i}, '{rng.choice(_WORDS)}')  # {i}" for i in range(6)]
            text = "```python\n" + "\n".join(lines) + "\n```"
        else:
            words = [rng.choice(_WORDS) for _ in range(45)]
            words[20] = f"**{words[20]}**"
            text = " ".join(words) + f". [{block % 5 + 1}]"
        pieces.append(text)
        count += len(text.split())
    text = "\n\n".join(pieces)
    ends = [match.end() for match in re.finditer(r"\S+", text)]
    return text[: ends[tokens - 1]]  # exactly `tokens` tokens, the layout kept


def test_server(answer: str, tokens_per_second: float) -> Any:
    """The Ollama stand-in: a chat model that streams ``answer`` at the given rate, and an
    embedding model that answers at once (the app's own work is what is measured)."""
    from tests.support.ollama_server import LLAMA_3_2, FakeModel, OllamaTestServer

    embedder = FakeModel(EMBED_MODEL, "bert", ("embedding",), embedding_length=384)
    server = OllamaTestServer(
        [LLAMA_3_2, embedder],
        embedder=instant_embedder(384),
        generator=lambda _messages, _options: answer,
    )
    server.faults.token_delay = 1.0 / tokens_per_second
    return server


def _serve(answer: str, tokens_per_second: float, connection: Connection) -> None:
    """Child process: run the test server, send its URL, stop when told (or orphaned)."""
    with test_server(answer, tokens_per_second) as server:
        connection.send(server.url)
        connection.recv()


@contextmanager
def server_process(answer: str, tokens_per_second: float) -> Iterator[tuple[str, int]]:
    """The test server in a process of its own, so its JSON work does not take the app's
    GIL (a real Ollama is another process); yields its URL and process id."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(answer, tokens_per_second, theirs))
    process.start()
    try:
        url = ours.recv()
        assert process.pid is not None
        yield url, process.pid
    finally:
        ours.send("stop")
        process.join(timeout=10)
        if process.is_alive():
            process.kill()


def wait_for_signal(signal: Any) -> asyncio.Future[tuple[Any, ...]]:
    """A future resolved with the arguments of the next emission of ``signal``."""
    future: asyncio.Future[tuple[Any, ...]] = asyncio.get_running_loop().create_future()

    def done(*args: Any) -> None:
        if not future.done():
            future.set_result(args)
        signal.disconnect(done)

    signal.connect(done)
    return future


def run_session(
    work: Callable[[Session], Awaitable[T]], answer: str = "", tokens_per_second: float = 100.0
) -> T:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from allma_desktop.malloc_arenas import limit_malloc_arenas

    limit_malloc_arenas()  # as allma_desktop.gui.app.main, before any thread starts
    import qasync
    from PySide6.QtCore import QCoreApplication, QSettings
    from PySide6.QtWidgets import QApplication

    from allma_desktop.config import AppConfig
    from allma_desktop.gui import app as gui_app
    from allma_desktop.gui.gc_guard import MainThreadGarbageCollector
    from allma_desktop.gui.main_window import MainWindow
    from allma_desktop.gui.orchestrator_host import OrchestratorHost

    with tempfile.TemporaryDirectory(prefix="allma-gui-bench-") as folder:
        root = Path(folder)
        for name in ("ALLMA_DATA_DIR", "ALLMA_CONFIG_DIR", "ALLMA_LOG_DIR"):
            os.environ[name] = str(root / name.lower())
        QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(root / "qs"))
        QSettings.setDefaultFormat(QSettings.Format.IniFormat)
        QCoreApplication.setOrganizationName("AllmaBench")
        app = QApplication.instance() or QApplication(["allma-gui-bench"])
        assert isinstance(app, QApplication)
        collector = MainThreadGarbageCollector()
        restore_switching = gui_app.favour_the_gui_thread()  # as allma_desktop.gui.app.run
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        restore_hooks = gui_app.install_asyncgen_hooks(loop)
        with server_process(answer, tokens_per_second) as (url, server_pid):
            config = AppConfig(
                ollama_host=url,
                ollama_model=CHAT_MODEL,
                ollama_embedding_model=EMBED_MODEL,
                data_dir=root / "data",
                # BENCH_VECTOR_STORE=faiss measures the same session on another backend.
                vector_store=os.environ.get("BENCH_VECTOR_STORE", "chroma"),
            )
            host = OrchestratorHost(config)

            async def session() -> T:
                await gui_app.open_orchestrator(host)
                assert host.ready, "the engine did not open"
                window = MainWindow(host)
                window.resize(1100, 720)
                window.show()
                window.conversations.refresh()
                window.chat_view.refresh_choices()
                try:
                    return await work(Session(window, server_pid))
                finally:
                    window.health.stop()
                    await gui_app.shutdown(host, window.api_controller)
                    window.close()
                    window.deleteLater()

            try:
                result: T = loop.run_until_complete(session())
                return result
            finally:
                restore_hooks()
                loop.close()
                asyncio.set_event_loop(None)
                collector.stop()
                restore_switching()
