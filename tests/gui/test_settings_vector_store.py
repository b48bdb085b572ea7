"""Moving the library to another vector store from Settings, over the real engine.

The library is a real one (a PDF indexed through the test server into embedded Chroma);
it is copied to FAISS in a worker while the page shows progress. A store whose package
is missing (FAISS and Qdrant are left out of the frozen build) is greyed out, saying why.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QMessageBox
from pytestqt.qtbot import QtBot

from allma_desktop import bundle
from allma_desktop.config import AppConfig
from allma_desktop.gui.controllers.settings_controller import (
    NOT_IN_THIS_BUILD,
    LibraryMoved,
    SettingsController,
)
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.settings.page import SettingsPage
from allma_desktop.gui.widgets.settings.vector_store import STORE_HINTS, VectorStoreCard
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import MigrationProgress
from allma_desktop.services.upkeep import migrate_store as migrate
from allma_desktop.services.upkeep.backup import create_backup
from allma_desktop.services.upkeep.migrate_store import MigrationFailed
from allma_desktop.services.vectorstore import backends
from allma_desktop.services.vectorstore.factory import create_vector_store
from tests.gui.conftest import ingest, run_async
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION, write_text

# The moves copy to a real FAISS store; the tests of stores whose package is missing
# (at the end) simulate the missing package, so they run either way.
needs_faiss = pytest.mark.skipif(
    importlib.util.find_spec("faiss") is None, reason="faiss-cpu is not installed"
)

TIMEOUT_MS = 30_000


@pytest.fixture
def page(
    qtbot: QtBot, host: OrchestratorHost, lighthouse_pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SettingsPage]:
    """Settings over a library holding the lighthouse manual; every question says yes."""
    monkeypatch.delenv("VECTOR_STORE", raising=False)
    monkeypatch.setattr(
        QMessageBox, "question", lambda *args, **kwargs: QMessageBox.StandardButton.Yes
    )
    ingest(qtbot, host, [lighthouse_pdf])
    page = SettingsPage(SettingsController(host))
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    yield page


def choose_store(page: SettingsPage, backend: str) -> None:
    page.vector_store.store_box.setCurrentIndex(page.vector_store.store_box.findData(backend))


def library_chunks(host: OrchestratorHost) -> int:
    assert host.orchestrator is not None
    return sum(c.chunk_count for c in host.orchestrator.collections())


def saved_vector_store() -> str:
    return AppConfig.from_env().vector_store


@needs_faiss
def test_moving_to_faiss_copies_the_library_and_the_engine_then_searches_the_copy(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    chunks = library_chunks(host)
    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_finished, timeout=TIMEOUT_MS) as finished:
        page.vector_store.move_button.click()

    moved = finished.args[0]
    assert isinstance(moved, LibraryMoved)
    assert moved.report.chunks == chunks > 0
    assert host.orchestrator is not None
    assert type(host.orchestrator.store).__name__ == "FaissVectorStore"
    assert host.config.vector_store == saved_vector_store() == "faiss"
    key = host.orchestrator.collections()[0].key
    assert host.orchestrator.store.count(key) == chunks
    hits = run_async(qtbot, host.orchestrator.search(PDF_QUESTION))
    assert hits[0].page == PDF_ANSWER_PAGE
    assert "now uses FAISS." in page.vector_store.move_status.text()
    assert page.vector_store.store_in_use_label.text().startswith("FAISS")


@needs_faiss
def test_the_setting_switches_only_once_the_copy_is_complete(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    seen_while_copying: list[tuple[str, str]] = []

    def note(progress: MigrationProgress) -> None:
        seen_while_copying.append((host.config.vector_store, saved_vector_store()))

    page.controller.move_progress.connect(note)
    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_finished, timeout=TIMEOUT_MS):
        page.vector_store.move_button.click()

    assert seen_while_copying and set(seen_while_copying) == {("chroma", "chroma")}
    assert saved_vector_store() == "faiss"


@needs_faiss
def test_a_copy_that_fails_verification_leaves_the_old_store_in_use(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mismatching(*args: object, **kwargs: object) -> None:
        raise MigrationFailed("The copy holds 1 chunk, the original 7.", "Run it again.")

    monkeypatch.setattr(migrate, "_verify", mismatching)
    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_failed, timeout=TIMEOUT_MS):
        page.vector_store.move_button.click()
    qtbot.waitUntil(lambda: host.ready, timeout=TIMEOUT_MS)

    assert host.config.vector_store == saved_vector_store() == "chroma"
    assert host.orchestrator is not None
    assert type(host.orchestrator.store).__name__ == "ChromaVectorStore"
    assert page.vector_store.move_status.objectName() == "fieldError"
    assert "Run it again" in page.vector_store.move_status.text()


@needs_faiss
def test_cancelling_a_move_leaves_the_old_store_in_use(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    chunks = library_chunks(host)
    # Cancel as soon as the move starts: the worker stops before its first batch.
    cancel = page.vector_store.move_cancel_button
    page.controller.move_started.connect(lambda _backend: cancel.click())
    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_failed, timeout=TIMEOUT_MS) as failed:
        page.vector_store.move_button.click()
    qtbot.waitUntil(lambda: host.ready, timeout=TIMEOUT_MS)

    assert isinstance(failed.args[0], migrate.MigrationCancelled)
    assert host.config.vector_store == saved_vector_store() == "chroma"
    assert library_chunks(host) == chunks
    hits = run_async(qtbot, host.orchestrator.search(PDF_QUESTION))  # type: ignore[union-attr]
    assert hits
    assert "cancelled" in page.vector_store.move_status.text()
    assert page.save_button.isEnabled() and page.vector_store.move_button.isEnabled()


@needs_faiss
def test_a_move_interrupted_earlier_resumes_and_says_so(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    # What a crash mid-copy leaves: the FAISS folder holds the first few chunks.
    assert host.orchestrator is not None
    source = host.orchestrator.store
    key = host.orchestrator.collections()[0].key
    partial = create_vector_store(host.config, "faiss")
    chunks, vectors = next(source.export(key, batch_size=3))  # type: ignore[attr-defined]
    partial.add(key, chunks, vectors)
    partial.close()

    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_finished, timeout=TIMEOUT_MS) as finished:
        page.vector_store.move_button.click()

    assert finished.args[0].resumed == 3
    assert "3 were already there" in page.vector_store.move_status.text()


@needs_faiss
def test_save_move_and_backup_are_disabled_while_the_library_is_moved(
    qtbot: QtBot, page: SettingsPage
) -> None:
    enabled_while_moving: list[bool] = []
    move_button = page.vector_store.move_button

    def note(_progress: MigrationProgress) -> None:
        enabled_while_moving.extend(
            button.isEnabled()
            for button in (page.save_button, move_button, page.storage.restore_button)
        )

    page.controller.move_progress.connect(note)
    choose_store(page, "faiss")
    with qtbot.waitSignal(page.controller.move_finished, timeout=TIMEOUT_MS):
        page.vector_store.move_button.click()

    assert enabled_while_moving and not any(enabled_while_moving)
    assert page.save_button.isEnabled() and page.storage.restore_button.isEnabled()


@needs_faiss
def test_save_is_disabled_while_a_backup_is_restored(
    qtbot: QtBot, page: SettingsPage, tmp_path: Path
) -> None:
    archive = tmp_path / "library.allma-backup.zip"
    with qtbot.waitSignal(page.controller.backup_finished, timeout=TIMEOUT_MS):
        page.controller.back_up(archive)
    # The page hears library_busy first (it connected first), so this sees its state.
    save_enabled: dict[bool, bool] = {}
    page.controller.library_busy.connect(
        lambda busy: save_enabled.setdefault(busy, page.save_button.isEnabled())
    )

    with qtbot.waitSignal(page.controller.restore_finished, timeout=TIMEOUT_MS):
        page.controller.restore(archive)

    assert save_enabled == {True: False, False: True}


@needs_faiss
def test_restoring_a_faiss_backup_switches_the_running_engine_to_faiss(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, tmp_path: Path
) -> None:
    faiss_library = host.config.with_changes(data_dir=tmp_path / "faiss-data", vector_store="faiss")

    async def back_up_a_faiss_library() -> Path:
        other = Orchestrator(faiss_library)
        await other.open()
        try:
            async for _ in other.ingest([str(write_text(tmp_path / "baking.txt"))]):
                pass
            return create_backup(other.config, tmp_path / "faiss", other.store).path
        finally:
            await other.close()

    archive = run_async(qtbot, back_up_a_faiss_library())
    with qtbot.waitSignal(page.controller.restore_finished, timeout=TIMEOUT_MS):
        page.controller.restore(archive)

    assert host.config.vector_store == saved_vector_store() == "faiss"
    assert host.orchestrator is not None
    assert type(host.orchestrator.store).__name__ == "FaissVectorStore"
    assert [d.title for d in host.orchestrator.list_documents()] == ["baking"]
    assert page.vector_store.store_in_use_label.text().startswith("FAISS")


# --- stores whose package is missing ------------------------------------------------------
# The controller says why a store cannot be used here; the card greys it out with that
# reason. The card is given the reasons as plain values, so its tests need no missing
# package; the controller's tests stand in for ``backends.missing_package``.

PACKAGES = {"faiss": "faiss-cpu", "qdrant": "qdrant-client"}
NO_FAISS = {"faiss": "Needs the faiss-cpu package: pip install allma-desktop[faiss]"}


def packages_missing_for(*backends: str) -> Callable[[str], str | None]:
    """A stand-in for ``backends.missing_package``: ``backends``' packages are not installed."""
    return lambda backend: PACKAGES[backend] if backend in backends else None


@pytest.fixture
def unopened_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OrchestratorHost:
    """An engine that is never started: the vector store card needs no more, and it is quick."""
    monkeypatch.setenv("ALLMA_CONFIG_DIR", str(tmp_path / "config"))
    return OrchestratorHost(AppConfig(ollama_host="http://127.0.0.1:9", data_dir=tmp_path / "data"))


def store_card(
    qtbot: QtBot, host: OrchestratorHost, unavailable: dict[str, str]
) -> VectorStoreCard:
    card = VectorStoreCard(SettingsController(host), unavailable)
    qtbot.addWidget(card)
    card.load(host.config)
    return card


def store_entry(card: VectorStoreCard, backend: str) -> QStandardItem:
    model = card.store_box.model()
    assert isinstance(model, QStandardItemModel)
    return model.item(card.store_box.findData(backend))


def test_a_missing_store_package_is_named_with_the_command_that_installs_it(
    unopened_host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "missing_package", packages_missing_for("faiss"))

    assert SettingsController(unopened_host).unavailable_stores() == NO_FAISS


def test_in_a_frozen_build_a_missing_store_says_it_is_not_included(
    unopened_host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "missing_package", packages_missing_for("faiss", "qdrant"))
    monkeypatch.setattr(bundle, "is_frozen", lambda: True)

    assert SettingsController(unopened_host).unavailable_stores() == {
        "faiss": NOT_IN_THIS_BUILD,
        "qdrant": NOT_IN_THIS_BUILD,
    }
    assert NOT_IN_THIS_BUILD == "Not included in this build."


def test_the_settings_page_greys_out_the_stores_the_controller_finds_missing(
    qtbot: QtBot, unopened_host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(backends, "missing_package", packages_missing_for("qdrant"))
    page = SettingsPage(SettingsController(unopened_host))
    qtbot.addWidget(page)

    assert not store_entry(page.vector_store, "qdrant").isEnabled()
    assert store_entry(page.vector_store, "faiss").isEnabled()


def test_a_store_whose_package_is_missing_is_greyed_out_saying_what_to_install(
    qtbot: QtBot, unopened_host: OrchestratorHost
) -> None:
    card = store_card(qtbot, unopened_host, NO_FAISS)

    faiss = store_entry(card, "faiss")
    assert not faiss.isEnabled()
    assert faiss.text() == "FAISS, on this computer (not available)"
    assert faiss.toolTip() == "Needs the faiss-cpu package: pip install allma-desktop[faiss]"


def test_the_keyboard_skips_a_missing_store(qtbot: QtBot, unopened_host: OrchestratorHost) -> None:
    card = store_card(qtbot, unopened_host, NO_FAISS)
    card.store_box.setCurrentIndex(card.store_box.findData("chroma-http"))

    qtbot.keyClick(card.store_box, Qt.Key.Key_Down)

    assert card.store_box.currentData() == "qdrant"


def test_an_installed_store_stays_selectable_with_its_usual_hint(
    qtbot: QtBot, unopened_host: OrchestratorHost
) -> None:
    card = store_card(qtbot, unopened_host, {"qdrant": "Not included in this build."})

    faiss = store_entry(card, "faiss")
    assert faiss.isEnabled() and faiss.toolTip() == ""
    card.store_box.setCurrentIndex(card.store_box.findData("faiss"))
    assert card.store_hint.text() == STORE_HINTS["faiss"]
    assert card.move_button.isEnabled()
    assert card.move_button.text() == "Move library to FAISS…"


def test_the_store_in_use_shows_with_the_reason_even_when_its_package_is_missing(
    qtbot: QtBot, unopened_host: OrchestratorHost
) -> None:
    unopened_host.config = unopened_host.config.with_changes(vector_store="faiss")
    card = store_card(qtbot, unopened_host, NO_FAISS)

    assert card.store_box.currentData() == "faiss"
    assert store_entry(card, "faiss").isEnabled()  # pickable again after looking elsewhere
    assert card.store_hint.text() == (
        "In use now. Needs the faiss-cpu package: pip install allma-desktop[faiss]"
    )
    assert card.store_box.toolTip() == (
        "Needs the faiss-cpu package: pip install allma-desktop[faiss]"
    )
    assert store_entry(card, "chroma").isEnabled()
