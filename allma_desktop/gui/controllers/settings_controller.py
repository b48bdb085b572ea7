"""Settings: validate, save, apply (restarting the engine when needed); test Ollama; models;
back up, restore, and move the library to another vector store.

Engine settings live in the settings file (``config.save_setting_changes``); GUI-only
preferences (theme, close to tray, whether the local API runs) live in QSettings.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QApplication

from allma_desktop.cancel import CancelToken
from allma_desktop.config import (
    ENV_VARIABLES,
    VECTOR_STORES,
    AppConfig,
    save_setting_changes,
    settings_path,
)
from allma_desktop.errors import AllmaError, ConfigError
from allma_desktop.gui.ops import async_op, background, op

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import (
        BackupManifest,
        MigrationProgress,
        MigrationReport,
        ModelInfo,
        OcrLanguage,
        RestoreResult,
    )

log = logging.getLogger(__name__)

THEME_KEY = "appearance/theme"
CLOSE_TO_TRAY_KEY = "tray/close_to_tray"
API_ENABLED_KEY = "api/enabled"
CONNECTION_TEST_TIMEOUT = 5.0
MODEL_CHECK_TIMEOUT = 120.0  # one embedding: the model may have to load first
# Read once per call by the orchestrator, so they apply without reopening anything.
LIVE_FIELDS = frozenset(
    {
        "temperature",
        "system_prompt",
        "think",
        "top_k",
        "hybrid_search",
        "related_words",
        "documents_only",
    }
)
# The settings file key for each name a ConfigError may carry (env variables included).
FIELD_FOR_VARIABLE = {**ENV_VARIABLES, **{f.name: f.name for f in fields(AppConfig)}}
# What a vector store needs to be reached; the rest of the config stays as saved.
STORE_CONNECTION_FIELDS = (
    "chroma_host",
    "chroma_port",
    "chroma_ssl",
    "chroma_token",
    "qdrant_url",
    "qdrant_api_key",
)
# Why a store whose package is missing cannot be picked. A frozen build leaves FAISS and
# Qdrant out on purpose, and its user has no pip to add them with.
NOT_IN_THIS_BUILD = "Not included in this build."


@dataclass(frozen=True)
class ConnectionResult:
    host: str
    ok: bool
    message: str
    version: str | None
    models: tuple[str, ...]
    chat_models: tuple[str, ...] = ()  # of ``models``, those that can chat
    embedding_models: tuple[str, ...] = ()  # and those that make embeddings


@dataclass(frozen=True)
class LibraryMoved:
    """A verified copy in ``backend``, which the running engine now uses."""

    backend: str
    previous_backend: str
    report: MigrationReport
    previous_folder: Path | None  # the old store's files, left as they were (None: a server)
    overridden_by: str | None  # VECTOR_STORE in the environment, when it names another store

    @property
    def resumed(self) -> int:
        """Chunks an earlier, interrupted move had already copied."""
        return sum(copy.already_there for copy in self.report.collections)


def close_to_tray_enabled() -> bool:
    """On by default where the desktop has a tray."""
    from PySide6.QtWidgets import QSystemTrayIcon

    default = QSystemTrayIcon.isSystemTrayAvailable()
    value = QSettings().value(CLOSE_TO_TRAY_KEY, default)
    return value in (True, "true", "1", 1)


def api_enabled() -> bool:
    """Whether the user left the local API on (off by default)."""
    return QSettings().value(API_ENABLED_KEY, False) in (True, "true", "1", 1)


def saved_theme() -> str:
    return str(QSettings().value(THEME_KEY, "system"))


class SettingsController(QObject):
    connection_tested = Signal(object)  # ConnectionResult
    models_loaded = Signal(object)  # list[ModelInfo]
    pull_progress = Signal(str, str, float)  # model, status, fraction 0..1 (-1: unknown)
    pull_finished = Signal(str)
    pull_failed = Signal(str, object)  # model, AllmaError
    pull_cancelled = Signal(str)  # model
    saved = Signal(object)  # the new AppConfig, once applied
    invalid = Signal(object)  # ConfigError: which field, what it accepts
    failed = Signal(object)  # AllmaError
    restarting = Signal(bool)
    backup_finished = Signal(object)  # BackupResult
    backup_failed = Signal(object)  # AllmaError
    restore_started = Signal()
    restore_finished = Signal(object)  # RestoreResult
    restore_failed = Signal(object)  # AllmaError
    move_started = Signal(str)  # the vector store the library is being copied to
    move_progress = Signal(object)  # MigrationProgress
    move_finished = Signal(object)  # LibraryMoved, once the engine runs on the new store
    move_failed = Signal(object)  # AllmaError (MigrationCancelled when the user cancelled)
    # True while the library is closed for a move or a restore: saving must wait.
    library_busy = Signal(bool)
    checking_models = Signal(bool)  # True while a new model choice is tried before saving
    model_rejected = Signal(object)  # WrongModelKind / ModelMissing / OllamaError: not saved
    library_facts_changed = Signal()  # library_chunk_count / embedding_advice answer anew
    # Adding an OCR language (from a folder, or downloaded from the package index):
    ocr_language_progress = Signal(int, int)  # bytes downloaded, bytes in all
    ocr_language_added = Signal(object, object)  # the OcrLanguage, then every one now
    ocr_language_failed = Signal(object)  # AllmaError (OcrDownloadCancelled: cancelled)

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._move_cancel: CancelToken | None = None
        self._ocr_download: CancelToken | None = None
        self.models: list[ModelInfo] = []
        self._chunk_count = 0
        self._advice: dict[str, str | None] = {}  # by embedding model, for these languages
        host.events.engine_ready.connect(self.refresh_models)
        host.events.engine_ready.connect(self._load_library_facts)
        host.events.documents_changed.connect(self._load_library_facts)
        if host.ready:
            self._load_library_facts()
        # Downloads go through the app's one pipeline, shared with the Health banner.
        pulls = host.pulls
        pulls.progress.connect(self.pull_progress)
        pulls.failed.connect(self.pull_failed)
        pulls.cancelled.connect(self.pull_cancelled)
        pulls.finished.connect(self.pull_finished)
        pulls.finished.connect(lambda _model: self.refresh_models())

    @property
    def config(self) -> AppConfig:
        return self._host.config

    @property
    def theme(self) -> str:
        return saved_theme()

    @property
    def close_to_tray(self) -> bool:
        return close_to_tray_enabled()

    @property
    def api_enabled(self) -> bool:
        return api_enabled()

    def use_theme(self, theme: str) -> None:
        """Apply and remember ``theme`` at once: picking one shows it, no Save needed."""
        if theme == self.theme:
            return
        settings = QSettings()
        settings.setValue(THEME_KEY, theme)
        settings.sync()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            from allma_desktop.gui.theme import apply_theme

            apply_theme(app, theme)

    def remember_api_enabled(self, enabled: bool) -> None:
        settings = QSettings()
        settings.setValue(API_ENABLED_KEY, enabled)
        settings.sync()

    def when_engine_ready(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the engine is open (at once if it already is)."""
        if self._host.ready:
            callback()
            return
        events = self._host.events

        def call_once(_orchestrator: object) -> None:
            events.engine_ready.disconnect(call_once)
            callback()

        events.engine_ready.connect(call_once)

    @property
    def settings_file(self) -> str:
        return str(settings_path())

    def library_chunk_count(self) -> int:
        """The library's passages as last counted (off the GUI thread, whenever its
        documents change; ``library_facts_changed`` says when)."""
        return self._chunk_count

    def embedding_advice(self, model: str) -> str | None:
        """Advice on ``model`` for this library's languages (see ``languages.py``), as last
        worked out; a model not asked about before is worked out off the GUI thread, and
        ``library_facts_changed`` follows."""
        model = model.strip()
        if model and model not in self._advice:
            self._advice[model] = None
            self._load_library_facts()
        return self._advice.get(model)

    def _load_library_facts(self, *_: object) -> None:
        models = list(self._advice)

        def facts(o: Orchestrator) -> tuple[int, dict[str, str | None]]:
            chunks = sum(c.chunk_count for c in o.collections())
            return chunks, {model: o.embedding_advice(model) for model in models}

        op(self._host, facts, description="Counting the library").success(
            self._on_library_facts
        ).quiet_when_closed().run()

    def _on_library_facts(self, loaded: tuple[int, dict[str, str | None]]) -> None:
        self._chunk_count, advice = loaded
        self._advice.update(advice)
        self.library_facts_changed.emit()

    def store_unavailable_reason(self, backend: str) -> str | None:
        """Why the vector store ``backend`` cannot be used here (its package is missing),
        or None when it can. Looks the package up without importing it."""
        from allma_desktop import bundle
        from allma_desktop.closed_library import missing_store_package

        package = missing_store_package(backend)
        if package is None:
            return None
        if bundle.is_frozen():
            return NOT_IN_THIS_BUILD
        return f"Needs the {package} package: pip install allma-desktop[{backend}]"

    def unavailable_stores(self) -> dict[str, str]:
        """Each vector store that cannot be used here, with why (see above)."""
        return {
            backend: reason
            for backend in VECTOR_STORES
            if (reason := self.store_unavailable_reason(backend)) is not None
        }

    def store_location(self, config: AppConfig) -> str:
        """Where ``config``'s vector store keeps the library: a server or a folder."""
        where = {
            "chroma-http": f"{config.chroma_host}:{config.chroma_port}",
            "qdrant": config.qdrant_url or "",
        }.get(config.vector_store, "")
        if where:
            return where
        from allma_desktop.closed_library import store_folder

        folder = store_folder(config)
        return str(folder) if folder is not None else ""

    def ocr_languages(self) -> list[OcrLanguage]:
        """The languages OCR can read here (none: its language data is missing).
        A look for the data's files only: PyMuPDF is not imported."""
        from allma_desktop.orchestrator import ocr_languages

        return ocr_languages(self.config)

    def add_ocr_language_from_folder(self, code: str, folder: Path) -> None:
        """Copy ``<folder>/<code>.traineddata`` into the app's languages, off the GUI
        thread; ``ocr_language_added`` or ``ocr_language_failed`` follows."""
        from allma_desktop.orchestrator import add_ocr_language_from_folder

        config = self.config
        self._add_ocr_language(
            lambda _report: add_ocr_language_from_folder(config, code, folder),
            "Adding a language",
        )

    def download_ocr_language(self, code: str) -> None:
        """Download ``code``'s ``tessdata-fast-<code>`` package from the index, off the GUI
        thread; ``ocr_language_progress`` while it runs, then ``ocr_language_added`` or
        ``ocr_language_failed``."""
        from allma_desktop.orchestrator import download_ocr_language

        config = self.config
        cancel = self._ocr_download = CancelToken()
        self._add_ocr_language(
            lambda report: download_ocr_language(config, code, report, cancel),
            "Downloading a language",
        )

    def cancel_ocr_download(self) -> None:
        """Stop the language download under way (``ocr_language_failed`` follows)."""
        if self._ocr_download is not None:
            self._ocr_download.cancel()

    def _add_ocr_language(
        self, add: Callable[[Callable[[int, int], None]], OcrLanguage], description: str
    ) -> None:
        """Run ``add(report)`` in a worker thread; ``report(done, total)`` reaches
        ``ocr_language_progress`` on the GUI thread."""
        from allma_desktop.orchestrator import ocr_languages

        config = self.config

        async def in_thread() -> tuple[OcrLanguage, list[OcrLanguage]]:
            loop = asyncio.get_running_loop()

            def report(done: int, total: int) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed: nobody listens
                    loop.call_soon_threadsafe(self.ocr_language_progress.emit, done, total)

            def work() -> tuple[OcrLanguage, list[OcrLanguage]]:
                return add(report), ocr_languages(config)

            return await asyncio.to_thread(work)

        def ended() -> None:
            self._ocr_download = None

        background(self._host, in_thread, description=description).success(
            lambda added: self.ocr_language_added.emit(*added)
        ).failure(self.ocr_language_failed.emit).finally_(ended).run()

    def default_backup_name(self) -> str:
        """A file name for a new backup, dated now."""
        from allma_desktop.closed_library import default_backup_name

        return default_backup_name()

    # --- connection and models --------------------------------------------------------

    def test_connection(self, host: str) -> None:
        """Check Ollama at ``host`` (not yet saved); emits ``connection_tested``."""
        try:
            candidate = self.config.with_changes(ollama_host=host)
        except ConfigError as error:
            self.invalid.emit(error)
            return
        background(
            self._host, lambda: self._test(candidate), description="The connection test"
        ).success(self.connection_tested.emit).failure(
            lambda error: self.connection_tested.emit(
                ConnectionResult(candidate.ollama_host, False, str(error), None, ())
            )
        ).run()

    async def _test(self, candidate: AppConfig) -> ConnectionResult:
        # A throw-away client: the address being tested is not the engine's yet.
        from allma_desktop.orchestrator import probe_model_server

        health = await probe_model_server(candidate, timeout=CONNECTION_TEST_TIMEOUT)
        if health.reachable:
            count = len(health.models)
            message = f"Connected to {health.server} {health.version or ''} · {count} model"
            message = message.replace("  ", " ") + ("s" if count != 1 else "")
        else:
            message = str(health.error) if health.error else "Ollama did not answer."
        return ConnectionResult(
            candidate.ollama_host,
            health.reachable,
            message,
            health.version,
            tuple(health.models),
            health.chat_models,
            health.embedding_models,
        )

    def refresh_models(self, _orchestrator: object = None) -> None:
        async_op(self._host, lambda o: o.models(), description="Listing the models").success(
            self._show_models
        ).failure(lambda _error: self._show_models([])).quiet_when_closed().run()

    def _show_models(self, models: list[ModelInfo]) -> None:
        self.models = models
        self.models_loaded.emit(list(self.models))

    def pull(self, name: str) -> None:
        """Download ``name`` (or join its download under way, started from any screen);
        progress and the outcome come as signals."""
        self._host.pulls.pull(name)

    def cancel_pull(self, name: str) -> None:
        """Stop downloading ``name``; ``pull_cancelled`` follows."""
        self._host.pulls.cancel(name)

    # --- backup and restore ----------------------------------------------------------------

    def back_up(self, target: Path) -> asyncio.Task[None] | None:
        """Archive the library to ``target`` (a file or a folder); a ``backup_*`` signal follows."""
        return (
            async_op(self._host, lambda o: o.back_up(target), description="The backup")
            .success(self.backup_finished.emit)
            .failure(self.backup_failed.emit)
            .run()
        )

    def read_backup(self, archive: Path) -> BackupManifest | None:
        """What ``archive`` holds (for the confirmation), or None after ``restore_failed``."""
        from allma_desktop.closed_library import read_backup

        try:
            return read_backup(archive)
        except AllmaError as error:
            self.restore_failed.emit(error)
            return None

    def restore(self, archive: Path) -> asyncio.Task[None] | None:
        """Replace the library with ``archive``; the current one is kept aside by the service."""
        return (
            background(self._host, lambda: self._restore(archive), description="The restore")
            .success(self.restore_finished.emit)
            .failure(self.restore_failed.emit)
            .finally_(lambda: self.library_busy.emit(False))
            .run()
        )

    async def _restore(self, archive: Path) -> RestoreResult:
        from allma_desktop.closed_library import restore_backup

        self.restore_started.emit()
        self.library_busy.emit(True)
        # The library must be closed while its files are replaced.
        await self._host.stop()
        try:
            result = await asyncio.to_thread(restore_backup, self.config, archive)
            self._use_restored_vector_store(result)
        finally:
            # Reopen either way: on failure the old library is still in place.
            await self._host.start()
        return result

    def _use_restored_vector_store(self, result: RestoreResult) -> None:
        """A backup of a FAISS library is searched with FAISS: switch when it differs."""
        if not result.switches_vector_store(self.config):
            return
        switched = self.config.with_changes(vector_store=result.vector_store)
        try:
            save_setting_changes({"vector_store": result.vector_store})
        except OSError as error:
            log.warning("cannot save the restored vector store setting: %s", error)
        self._host.config = switched

    # --- moving the library to another vector store ------------------------------------------

    @property
    def moving(self) -> bool:
        return self._move_cancel is not None

    def move_library(
        self, backend: str, connection: dict[str, Any] | None = None
    ) -> asyncio.Task[None] | None:
        """Copy the library to ``backend`` (reached with ``connection``'s fields), verify,
        then switch to it; ``move_finished`` or ``move_failed`` follows. The library is
        closed meanwhile. Returns None when nothing was started (invalid, or already moving).
        """
        if self._move_cancel is not None:
            return None
        if backend == self.config.vector_store:
            self.move_failed.emit(
                AllmaError(f"The library already uses the {backend} vector store.")
            )
            return None
        wanted = {k: v for k, v in (connection or {}).items() if k in STORE_CONNECTION_FIELDS}
        try:
            destination = self.config.with_changes(vector_store=backend, **wanted)
        except ConfigError as error:
            self.invalid.emit(error)
            return None
        cancel = self._move_cancel = CancelToken()
        return (
            background(
                self._host,
                lambda: self._move(destination, cancel),
                description="Moving the library",
            )
            .success(self._on_moved)
            .failure(self._on_move_failed)
            .finally_(self._move_ended)
            .run()
        )

    def cancel_move(self) -> None:
        """Stop the copy at the next batch; the library stays on its current store."""
        if self._move_cancel is not None:
            self._move_cancel.cancel()

    async def _move(self, destination: AppConfig, cancel: CancelToken) -> LibraryMoved:
        from allma_desktop.closed_library import move_library

        current = self.config
        loop = asyncio.get_running_loop()

        def report(progress: MigrationProgress) -> None:
            # From the worker thread: signals are emitted on the GUI thread.
            loop.call_soon_threadsafe(self.move_progress.emit, progress)

        self.library_busy.emit(True)
        self.move_started.emit(destination.vector_store)
        await self._host.stop()  # the copy must see a library nobody changes
        try:
            migrated = await asyncio.to_thread(
                move_library, current, destination, on_progress=report, cancel=cancel
            )
            moved = self._switch_to(current, destination, migrated)
        except asyncio.CancelledError:
            cancel.cancel()  # the app is closing: let the worker stop at its next batch
            raise
        except Exception as error:
            await self._host.start()  # on the store it had: a failed move leaves it open
            if isinstance(error, AllmaError):
                raise
            log.exception("moving the library failed")  # a backend's own failure
            raise AllmaError(
                f"The library could not be moved: {error}",
                "Your current store is unchanged and still in use. See the log file.",
            ) from error
        await self._host.start()
        return moved

    def _on_moved(self, moved: LibraryMoved) -> None:
        self._move_cancel = None
        self._host.events.settings_changed.emit(self.config)
        self.saved.emit(self.config)
        self.move_finished.emit(moved)

    def _on_move_failed(self, error: AllmaError) -> None:
        self._move_cancel = None
        self.move_failed.emit(error)

    def _move_ended(self) -> None:
        self._move_cancel = None
        self.library_busy.emit(False)

    def _switch_to(
        self, current: AppConfig, destination: AppConfig, migrated: MigrationReport
    ) -> LibraryMoved:
        """Save ``destination`` as the settings; the engine opens on it next."""
        from allma_desktop.closed_library import store_folder

        moved = {
            f.name: getattr(destination, f.name)
            for f in fields(AppConfig)
            if getattr(destination, f.name) != getattr(current, f.name)
        }
        try:
            save_setting_changes(moved)
        except OSError as error:
            raise AllmaError(
                f"The library was copied, but the settings could not be saved to "
                f"{settings_path()}: {error.strerror}.",
                "Check that the folder is writable, then move it again (it resumes at once).",
            ) from error
        self._host.config = destination
        environment = os.environ.get("VECTOR_STORE", "").strip().lower()
        return LibraryMoved(
            backend=destination.vector_store,
            previous_backend=current.vector_store,
            report=migrated,
            previous_folder=store_folder(current),
            overridden_by=environment
            if environment and environment != destination.vector_store
            else None,
        )

    # --- saving -------------------------------------------------------------------------

    def validate(self, changes: dict[str, Any]) -> AppConfig | None:
        """The config with ``changes``, or None after emitting ``invalid``."""
        try:
            return self.config.with_changes(**changes)
        except ConfigError as error:
            self.invalid.emit(error)
            return None

    def save(
        self,
        changes: dict[str, Any],
        theme: str | None = None,
        close_to_tray: bool | None = None,
    ) -> AppConfig | None:
        """Validate, write the settings file, apply; returns the new config (None if invalid)."""
        new = self.validate(changes)
        if new is None:
            return None
        gui = QSettings()
        if theme is not None:
            self.use_theme(theme)
        if close_to_tray is not None:
            gui.setValue(CLOSE_TO_TRAY_KEY, close_to_tray)
        gui.sync()
        old = self.config
        if new == old:
            self.saved.emit(new)
            return new
        if (new.ollama_model, new.ollama_embedding_model) != (
            old.ollama_model,
            old.ollama_embedding_model,
        ):
            # A model choice changed: check that it can do its job before saving it.
            self.checking_models.emit(True)
            self._check_models_then_store(changes, old, new)
            return None
        return self._store(changes, old, new)

    def _check_models_then_store(
        self, changes: dict[str, Any], old: AppConfig, new: AppConfig
    ) -> None:
        def accepted(_none: None) -> None:
            self.checking_models.emit(False)
            self._store(changes, old, new)

        def rejected(error: AllmaError) -> None:
            self.checking_models.emit(False)
            self.model_rejected.emit(error)

        background(
            self._host, lambda: self._check_models(old, new), description="Trying the models"
        ).success(accepted).failure(rejected).run()

    async def _check_models(self, old: AppConfig, new: AppConfig) -> None:
        """Raise why ``new``'s models cannot do their jobs (nothing when they can, or when
        Ollama is away).

        The chat model must chat; a new embedding model makes one real embedding. An
        Ollama that does not answer is no reason to refuse: the status bar says so.
        """
        from allma_desktop.errors import OllamaUnreachable
        from allma_desktop.orchestrator import check_models

        try:
            await check_models(
                new,
                chat_model=new.ollama_model if new.ollama_model != old.ollama_model else None,
                embedding_model=new.ollama_embedding_model
                if new.ollama_embedding_model != old.ollama_embedding_model
                else None,
                timeout=MODEL_CHECK_TIMEOUT,
            )
        except OllamaUnreachable:
            log.info("Ollama is away: the new models are saved unchecked")

    def _store(self, changes: dict[str, Any], old: AppConfig, new: AppConfig) -> AppConfig | None:
        """Write what changed to the settings file and apply it."""
        # Only what the user changed: values from the environment (OLLAMA_HOST) stay out.
        edited = {
            key: value for key, value in changes.items() if getattr(new, key) != getattr(old, key)
        }
        try:
            save_setting_changes(edited)
        except OSError as error:
            self.failed.emit(
                AllmaError(
                    f"The settings could not be saved to {settings_path()}: {error.strerror}.",
                    "Check that the folder is writable.",
                )
            )
            return None
        if needs_restart(old, new):
            self._host.run(self._restart(new))
        else:
            self._host.config = new
            if self._host.orchestrator is not None:
                self._host.orchestrator.config = new
            self._host.events.settings_changed.emit(new)
            self.saved.emit(new)
        return new

    async def _restart(self, new: AppConfig) -> None:
        self.restarting.emit(True)
        try:
            await self._host.restart(new)
        finally:
            self.restarting.emit(False)
        self._host.events.settings_changed.emit(new)
        self.saved.emit(new)


def needs_restart(old: AppConfig, new: AppConfig) -> bool:
    """Whether the engine must be reopened for ``new`` (anything but per-answer settings)."""
    return any(
        getattr(old, f.name) != getattr(new, f.name)
        for f in fields(AppConfig)
        if f.name not in LIVE_FIELDS
    )


__all__ = [
    "API_ENABLED_KEY",
    "CLOSE_TO_TRAY_KEY",
    "FIELD_FOR_VARIABLE",
    "NOT_IN_THIS_BUILD",
    "STORE_CONNECTION_FIELDS",
    "THEME_KEY",
    "ConnectionResult",
    "LibraryMoved",
    "SettingsController",
    "api_enabled",
    "close_to_tray_enabled",
    "needs_restart",
    "saved_theme",
]
