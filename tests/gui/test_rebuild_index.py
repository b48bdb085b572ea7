"""A damaged search index (HNSW data cut short by a full disk) is rebuilt from the trouble panel.

The library is real (SQLite, Chroma) and damaged as a full disk damages it; the health
check finds it, the panel offers "Rebuild the index", the click runs ``doctor --repair``
through the orchestrator, with progress, and ends with a message; search then answers
from the vectors again, not from keywords only.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.orchestrator import Orchestrator
from tests.faults.test_damaged_vector_store import _write_notes
from tests.gui.conftest import run_async
from tests.support.damage import truncate
from tests.support.ollama_server import OllamaTestServer

CHECK_TIMEOUT_MS = 30_000
REBUILD_TIMEOUT_MS = 180_000
QUERY = "otter heron marker3x17"


def _build_and_damage(config: AppConfig, notes: Path) -> None:
    async def build() -> None:
        engine = Orchestrator(config)
        await engine.open()
        try:
            async for _ in engine.ingest([notes]):
                pass
            assert {d.status for d in engine.list_documents()} == {"ready"}
        finally:
            await engine.close()

    # In a thread of its own: the test's qasync loop must stay this thread's loop.
    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(build())
        except BaseException as error:
            failures.append(error)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert not failures, failures
    (pickle,) = config.vectors_path.glob("*/index_metadata.pickle")
    truncate(pickle)


@pytest.fixture
def gui_config(tmp_path: Path, ollama_server: OllamaTestServer) -> AppConfig:
    """A library past Chroma's 1,000-vector threshold (it writes HNSW files), then damaged."""
    config = AppConfig(
        ollama_host=ollama_server.url,
        ollama_model="deepseek-r1:latest",
        ollama_embedding_model="nomic-embed-text:latest",
        data_dir=tmp_path / "data",
        chunk_size=200,
        chunk_overlap=0,
    )
    _write_notes(tmp_path / "notes", files=5)
    _build_and_damage(config, tmp_path / "notes")
    return config


def test_the_trouble_panel_rebuilds_a_damaged_index_and_search_works_again(
    qtbot: QtBot, window: MainWindow, host: OrchestratorHost, tmp_path: Path
) -> None:
    panel = window.first_run
    qtbot.waitUntil(lambda: panel.problem == "vectors_damaged", timeout=CHECK_TIMEOUT_MS)
    assert window.chat_page.currentWidget() is panel
    assert panel.rebuild_button.isVisibleTo(window)
    assert "damaged" in panel.explanation.text()
    assert not panel.get_ollama.isVisibleTo(window)
    window.grab().save(str(tmp_path / "rebuild-offered.png"))

    progress: list[tuple[int, int]] = []
    window.health.rebuild_progress.connect(
        lambda done, total, _path: progress.append((done, total))
    )
    with qtbot.waitSignal(window.health.rebuild_finished, timeout=REBUILD_TIMEOUT_MS) as finished:
        panel.rebuild_button.click()
        assert not panel.rebuild_button.isEnabled()  # one rebuild at a time
        qtbot.waitUntil(lambda: len(progress) >= 2, timeout=REBUILD_TIMEOUT_MS)
        window.grab().save(str(tmp_path / "rebuild-progress.png"))
    report = finished.args[0]
    assert report.ok, report.as_dict()
    documents = host.orchestrator.list_documents()  # type: ignore[union-attr]
    assert progress[-1] == (len(documents), len(documents))
    assert "rebuilt" in panel.rebuild_state.text()
    assert panel.rebuild_progress.value() == panel.rebuild_progress.maximum()
    assert "rebuilt" in window.status.currentMessage()

    # The re-check finds the store whole: the panel gives way to the chat.
    qtbot.waitUntil(
        lambda: window.chat_page.currentWidget() is window.chat_view, timeout=CHECK_TIMEOUT_MS
    )
    window.grab().save(str(tmp_path / "rebuild-done.png"))
    orchestrator = host.orchestrator
    assert orchestrator is not None
    found = run_async(qtbot, orchestrator.search_results(QUERY))
    assert found.notice is None  # the vectors answered, not the keyword fallback
    assert found.sources
    key = orchestrator.collection(None).key
    for document in documents:  # every vector made again: nothing lost
        stored = orchestrator.store.chunk_ids(key, document.id)
        assert stored == orchestrator.library.document_chunk_ids(document.id)
    assert list(orchestrator.config.data_dir.glob("vectors.damaged-*"))  # kept aside
