"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.services.storage import open_database
from allma_desktop.services.vectorstore.store_process import IN_PROCESS_ENV
from tests.ollama_server import OllamaTestServer

# Each engine's store process costs about a second to start (spawn, import chromadb),
# which hundreds of engine tests would pay again and again. Most tests therefore keep
# the store in their own process; the store's process is covered by its own tests
# (tests/test_vectorstore_process.py, the contract's chroma-process backend, an
# engine test and the crash test), and is what the app, the CLI and the binary run.
os.environ.setdefault(IN_PROCESS_ENV, "1")


OPT_IN_MARKERS = ("real_llama_server",)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out opt-in tests (a real inference server) unless ``-m`` names their marker."""
    asked = str(config.getoption("markexpr") or "")
    skipped = [m for m in OPT_IN_MARKERS if m not in asked]
    kept, deselected = [], []
    for item in items:
        opt_in = any(item.get_closest_marker(marker) for marker in skipped)
        (deselected if opt_in else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """An Ollama-protocol server on loopback with the default models, stopped afterwards."""
    with OllamaTestServer() as server:
        yield server


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A new library database (every migration applied) in the test's temp folder."""
    database = open_database(tmp_path / "allma.sqlite3")
    yield database
    database.close()
