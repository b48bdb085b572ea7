"""The GUI thread never touches SQLite or the vector store: the window's operations run
them in worker threads (``gui/ops.py``), so a slow disk or a busy ingest never freezes it.

The library database's ``execute_sql`` and the vector store's methods are watched for
the thread that calls them while a session uses the controllers as the window does:
chat, collections, conversations, documents, settings.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.chat_controller import ChatController
from allma_desktop.gui.controllers.conversations_controller import ConversationsController
from allma_desktop.gui.controllers.health_controller import HealthController
from allma_desktop.gui.controllers.library_controller import LibraryController
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.services.library.storage import LibraryDatabase
from tests.support.sample_docs import write_text

TIMEOUT_MS = 30_000
STORE_METHODS = (
    "ensure_collection",
    "delete_collection",
    "list_collections",
    "add",
    "delete_document",
    "delete_chunks",
    "query",
    "count",
    "chunk_ids",
)


@dataclass
class GuiThreadWatch:
    """Database statements and store calls made on the GUI thread, with where from."""

    calls: list[str] = field(default_factory=list)
    watching: bool = True

    def record(self, what: str) -> None:
        if self.watching and threading.current_thread() is threading.main_thread():
            frames = [
                f"{Path(f.filename).name}:{f.lineno} {f.name}"
                for f in traceback.extract_stack()[:-2]
                if "allma_desktop" in f.filename
            ]
            self.calls.append(f"{what} from " + " <- ".join(reversed(frames[-6:])))


@pytest.fixture
def gui_thread_watch(
    host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> Iterator[GuiThreadWatch]:
    watch = GuiThreadWatch()
    execute_sql = LibraryDatabase.execute_sql

    def watched_sql(self: LibraryDatabase, sql: str, *args: Any, **kwargs: Any) -> Any:
        watch.record(f"SQL {sql.split(' ', 1)[0]}")
        return execute_sql(self, sql, *args, **kwargs)

    monkeypatch.setattr(LibraryDatabase, "execute_sql", watched_sql)
    assert host.orchestrator is not None
    store_class = type(host.orchestrator.store)
    for name in STORE_METHODS:
        monkeypatch.setattr(store_class, name, _watched(watch, name, getattr(store_class, name)))
    yield watch
    watch.watching = False  # the fixture's teardown closes the library on this thread


def _watched(watch: GuiThreadWatch, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        watch.record(f"store.{name}")
        return method(*args, **kwargs)

    return call


def test_a_session_of_window_operations_touches_no_database_on_the_gui_thread(
    qtbot: QtBot, host: OrchestratorHost, gui_thread_watch: GuiThreadWatch, tmp_path: Path
) -> None:
    library = LibraryController(host)
    conversations = ConversationsController(host)
    chat = ChatController(host)
    settings = SettingsController(host)
    health = HealthController(host)
    qtbot.waitUntil(lambda: bool(library.collections), timeout=TIMEOUT_MS)

    # Collections, while a file is indexed.
    note = write_text(tmp_path / "baking.txt")
    with qtbot.waitSignal(library.batch_finished, timeout=TIMEOUT_MS):
        library.add_paths([str(note)])
        with qtbot.waitSignal(library.collections_changed, timeout=TIMEOUT_MS):
            library.create_collection("Recipes")
    recipes = next(c for c in library.collections if c.name == "Recipes")
    with qtbot.waitSignal(library.collections_changed, timeout=TIMEOUT_MS):
        library.rename_collection(recipes.id, "Baking")
    with qtbot.waitSignal(library.collections_changed, timeout=TIMEOUT_MS):
        library.delete_collection(recipes.id)

    # A chat, then the conversation list's operations on it.
    with qtbot.waitSignal(chat.finished, timeout=TIMEOUT_MS) as answer:
        chat.send("How hot is the oven?", None)
    conversation_id = answer.args[0].conversation_id
    qtbot.waitUntil(lambda: not chat.busy, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: conversations.model.rowCount() == 1, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(chat.finished, timeout=TIMEOUT_MS):
        chat.regenerate(conversation_id)
    qtbot.waitUntil(lambda: not chat.busy, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(host.events.conversations_changed, timeout=TIMEOUT_MS):
        conversations.rename(conversation_id, "Herons")
    qtbot.waitUntil(
        lambda: (
            conversations.model.record(0) is not None
            and conversations.model.record(0).title == "Herons"
        ),  # type: ignore[union-attr]
        timeout=TIMEOUT_MS,
    )
    with qtbot.waitSignal(host.events.conversations_changed, timeout=TIMEOUT_MS):
        conversations.set_model(conversation_id, "qwen3:0.6b")
    with qtbot.waitSignal(conversations.created, timeout=TIMEOUT_MS):
        conversations.create()
    with qtbot.waitSignal(host.events.conversations_changed, timeout=TIMEOUT_MS):
        conversations.delete(conversation_id)

    # Settings that read the library, and the health check.
    with qtbot.waitSignal(health.checking, timeout=TIMEOUT_MS, check_params_cb=lambda b: not b):
        health.check_now()
    with qtbot.waitSignal(settings.models_loaded, timeout=TIMEOUT_MS):
        settings.refresh_models()
    with qtbot.waitSignal(settings.library_facts_changed, timeout=TIMEOUT_MS):
        settings.embedding_advice("all-minilm:latest")
    assert settings.library_chunk_count() > 0
    # A setting that reopens the library (and the library views' loading after it).
    with qtbot.waitSignal(settings.saved, timeout=TIMEOUT_MS):
        settings.save({"chunk_size": host.config.chunk_size + 100})
    with qtbot.waitSignal(library.collections_changed, timeout=TIMEOUT_MS):
        library.refresh_collections()

    assert not gui_thread_watch.calls, "\n".join(gui_thread_watch.calls)
