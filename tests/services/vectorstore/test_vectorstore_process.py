"""The vector store in a process of its own: what the app runs by default.

The contract itself is proven by tests/services/vectorstore/test_vectorstore_contract.py (its
``chroma-process`` backend); here: errors and logs crossing the process boundary, a
store process that dies, closing, the engine end to end on it, and no orphan left
behind when the app is killed.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import EmbeddingDimensionMismatch, StoreProcessStopped
from allma_desktop.events import AnswerDone, FileFinished
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.vectorstore.factory import create_vector_store
from allma_desktop.services.vectorstore.store_process import IN_PROCESS_ENV, ProcessVectorStore
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, make_sample_library

KEY = "c_process"
REPO_ROOT = Path(__file__).resolve().parents[3]


def chunk(index: int) -> Chunk:
    return Chunk(
        chunk_id=f"doc-{index}",
        document_id="doc",
        index=index,
        text=f"chunk number {index}",
        path="/docs/doc.pdf",
        title="Doc",
        page=index + 1,
        heading_path=("Part",),
        char_start=0,
        char_end=10,
        file_type="pdf",
    )


def vectors(count: int, dimension: int = 8) -> list[list[float]]:
    rows = np.random.default_rng(7).normal(size=(count, dimension))
    return [[float(x) for x in row] for row in rows]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProcessVectorStore]:
    opened = ProcessVectorStore(AppConfig(data_dir=tmp_path), "chroma")
    yield opened
    opened.close()


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return True


def wait_until_gone(pid: int, deadline: float) -> bool:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if not process_exists(pid):
            return True
        time.sleep(0.05)
    return not process_exists(pid)


def test_the_factory_runs_a_local_store_in_its_own_process_when_asked(tmp_path: Path) -> None:
    config = AppConfig(data_dir=tmp_path)

    assert isinstance(create_vector_store(config, own_process=True), ProcessVectorStore)
    assert not isinstance(create_vector_store(config), ProcessVectorStore)
    remote = config.with_changes(vector_store="chroma-http")
    assert not isinstance(create_vector_store(remote, own_process=True), ProcessVectorStore)


def test_the_store_runs_outside_the_callers_process(store: ProcessVectorStore) -> None:
    store.add(KEY, [chunk(0)], vectors(1))

    assert store.process_id is not None
    assert store.process_id != os.getpid()


def test_a_store_error_arrives_as_the_same_allma_error(store: ProcessVectorStore) -> None:
    store.add(KEY, [chunk(0)], vectors(1, dimension=8))

    with pytest.raises(EmbeddingDimensionMismatch) as raised:
        store.add(KEY, [chunk(1)], vectors(1, dimension=4))

    assert raised.value.hint
    assert store.count(KEY) == 1


def test_the_store_process_logs_reach_the_apps_log(
    store: ProcessVectorStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.add(KEY, [chunk(0)], vectors(1, dimension=8))
    caplog.set_level(logging.WARNING)

    with pytest.raises(EmbeddingDimensionMismatch):
        store.add(KEY, [chunk(1)], vectors(1, dimension=4))

    logged = [r for r in caplog.records if "could not store 1 chunks" in r.getMessage()]
    assert logged, [r.getMessage() for r in caplog.records]
    assert "InvalidArgumentError" in logged[0].getMessage()  # the traceback came along


def test_a_store_process_that_dies_is_reported_then_restarted_with_nothing_lost(
    store: ProcessVectorStore,
) -> None:
    store.add(KEY, [chunk(i) for i in range(3)], vectors(3))
    pid = store.process_id
    assert pid is not None
    os.kill(pid, signal.SIGKILL)

    with pytest.raises(StoreProcessStopped) as raised:
        store.count(KEY)

    assert "-9" in raised.value.message
    assert store.count(KEY) == 3
    assert store.process_id not in (None, pid)


def test_closing_stops_the_process_and_the_next_call_reopens_the_store(
    store: ProcessVectorStore,
) -> None:
    store.add(KEY, [chunk(0), chunk(1)], vectors(2))
    pid = store.process_id
    assert pid is not None

    store.close()

    assert store.process_id is None
    assert wait_until_gone(pid, deadline=10)
    assert store.chunk_ids(KEY) == {"doc-0", "doc-1"}


def test_search_results_cross_the_process_boundary_whole(store: ProcessVectorStore) -> None:
    rows = vectors(4)
    store.add(KEY, [chunk(i) for i in range(4)], rows)

    hits = store.query(KEY, rows[2], k=2)

    assert hits[0].chunk_id == "doc-2"
    assert hits[0].page == 3
    assert hits[0].heading_path == ("Part",)
    assert hits[0].score == pytest.approx(1.0, abs=1e-4)


_APP_THAT_WAITS = """
import sys, time
from pathlib import Path
from allma_desktop.config import AppConfig
from allma_desktop.services.vectorstore.store_process import ProcessVectorStore

if __name__ == "__main__":
    store = ProcessVectorStore(AppConfig(data_dir=Path(sys.argv[1])), "chroma")
    store.ensure_collection("c_orphan")
    print(store.process_id, flush=True)
    time.sleep(120)
"""


def test_a_killed_app_leaves_no_store_process_behind(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(_APP_THAT_WAITS, encoding="utf-8")
    app = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert app.stdout is not None
    store_pid = int(app.stdout.readline())
    assert process_exists(store_pid)

    app.kill()
    app.wait(10)

    assert wait_until_gone(store_pid, deadline=10), "the store process outlived the app"


async def test_the_engine_ingests_and_answers_with_its_store_in_a_process_of_its_own(
    tmp_path: Path, ollama_server: OllamaTestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(IN_PROCESS_ENV, raising=False)
    library = make_sample_library(tmp_path / "docs")
    engine = Orchestrator(AppConfig(data_dir=tmp_path / "data", ollama_host=ollama_server.url))
    await engine.open()
    try:
        assert isinstance(engine.store, ProcessVectorStore)
        finished = [
            event
            async for event in engine.ingest([str(library.pdf)])
            if isinstance(event, FileFinished)
        ]
        assert [f.status for f in finished] == ["indexed"]

        answer = [
            event
            async for event in engine.chat(None, PDF_QUESTION)
            if isinstance(event, AnswerDone)
        ][-1]

        assert answer.sources[0].page == PDF_ANSWER_PAGE
    finally:
        await engine.close()
