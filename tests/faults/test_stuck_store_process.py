"""A vector store process that stops answering (stuck on a full disk: Chroma was seen to
hang at 0% CPU in a delete). Every wait on it is bounded, and cancellable by closing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import StoreCallCancelled, StoreNotResponding
from allma_desktop.services.vectorstore.store_process import CALL_TIMEOUT_ENV, ProcessVectorStore
from tests.services.vectorstore.test_vectorstore_process import KEY, chunk, vectors


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ProcessVectorStore]:
    opened = ProcessVectorStore(AppConfig(data_dir=tmp_path), "chroma")
    yield opened
    opened.abort()


def _freeze(store: ProcessVectorStore) -> int:
    """Stop the child dead (as a process stuck in the kernel on a full disk)."""
    pid = store.process_id
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    return pid


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_call_that_gets_no_answer_ends_with_an_error_and_the_next_call_works(
    store: ProcessVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add(KEY, [chunk(0), chunk(1)], vectors(2))
    pid = _freeze(store)
    monkeypatch.setenv(CALL_TIMEOUT_ENV, "1.5")

    started = time.monotonic()
    with pytest.raises(StoreNotResponding) as raised:
        store.delete_chunks(KEY, ["doc-0"])
    assert time.monotonic() - started < 10
    assert "delete_chunks" in raised.value.message and "full" in raised.value.hint
    assert _gone(pid) or store.process_id != pid  # the stuck child was stopped

    monkeypatch.delenv(CALL_TIMEOUT_ENV)
    assert store.chunk_ids(KEY) == {"doc-0", "doc-1"}  # a new child; nothing was lost


def test_closing_cancels_a_wait_on_a_stuck_store_at_once(
    store: ProcessVectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CALL_TIMEOUT_ENV, "30")  # the bound, should the cancel come first
    store.ensure_collection(KEY)
    _freeze(store)
    failures: list[BaseException] = []

    def waiting_call() -> None:
        try:
            store.count(KEY)
        except BaseException as error:
            failures.append(error)

    caller = threading.Thread(target=waiting_call)
    caller.start()
    time.sleep(0.5)  # the call is now waiting on the frozen child
    started = time.monotonic()
    store.abort()
    caller.join(15)
    assert not caller.is_alive()
    assert time.monotonic() - started < 15  # the grace a closing child gets, then killed
    assert len(failures) == 1 and isinstance(failures[0], StoreCallCancelled)
    assert store.count(KEY) == 0  # usable again: a new child
