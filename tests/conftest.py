"""Fixtures shared by the whole test suite."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.services.library.storage import open_database
from allma_desktop.services.vectorstore.store_process import IN_PROCESS_ENV
from tests.support.ollama_server import OllamaTestServer

# The engine fixtures (a config in temp folders over the test server, an opened
# orchestrator, a sample library) serve every folder that tests the engine's callers.
pytest_plugins = ["tests.support.engine_fixtures"]


def _use_a_home_of_our_own() -> Path:
    """The test session's own HOME and XDG folders, removed at its end.

    Set before anything asks platformdirs or Qt where the user's folders are, so no log
    line, setting, cache or socket of a test lands in the developer's real folders
    (``~/.local/state/allma-desktop/log``, ``~/.cache``, ``~/.config``). Subprocesses the
    tests start inherit them.
    """
    home = Path(tempfile.mkdtemp(prefix="allma-tests-home-"))
    folders = {
        "HOME": home,
        "XDG_CONFIG_HOME": home / ".config",
        "XDG_DATA_HOME": home / ".local" / "share",
        "XDG_STATE_HOME": home / ".local" / "state",
        "XDG_CACHE_HOME": home / ".cache",
    }
    for variable, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(folder)
    for variable in ("ALLMA_DATA_DIR", "ALLMA_CONFIG_DIR", "ALLMA_LOG_DIR"):
        os.environ.pop(variable, None)  # the developer's own library stays out of it too
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


TEST_HOME = _use_a_home_of_our_own()


# Each engine's store process costs about a second to start (spawn, import chromadb),
# which hundreds of engine tests would pay again and again. Most tests therefore keep
# the store in their own process; the store's process is covered by its own tests
# (tests/services/vectorstore/test_vectorstore_process.py, the contract's chroma-process backend, an
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
