"""What every route needs: the orchestrator (when open), the config, the jobs, the notifier."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import Request

from allma_desktop.allowed_paths import allowed_folders
from allma_desktop.api.jobs import IngestJobs
from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator

OrchestratorProvider = Callable[[], "Orchestrator | None"]
ChangeListener = Callable[[str], None]  # "documents", "conversations" or "collections"

UPLOADS_FOLDER = "uploads"


class EngineNotReady(AllmaError):
    code = "engine_not_ready"

    def __init__(self) -> None:
        super().__init__(
            "Allma's library is not open yet.",
            "Wait a moment and try again; if it persists, check the app's status bar.",
        )


@dataclass
class ApiContext:
    orchestrator_provider: OrchestratorProvider
    config: AppConfig
    jobs: IngestJobs
    ingest_roots: Sequence[Path] | None  # None: the folders allowed in Settings (home)
    on_change: ChangeListener | None = None

    def ingest_folders(self) -> list[Path]:
        """The folders ingestion by path may read from."""
        if self.ingest_roots is not None:
            return list(self.ingest_roots)
        return allowed_folders(self.config)

    @property
    def uploads_dir(self) -> Path:
        return self.config.data_dir / UPLOADS_FOLDER

    def orchestrator(self) -> Orchestrator:
        orchestrator = self.orchestrator_provider()
        if orchestrator is None:
            raise EngineNotReady()
        return orchestrator

    def changed(self, what: str) -> None:
        if self.on_change is not None:
            self.on_change(what)


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.allma
    return context


def current_orchestrator(request: Request) -> Orchestrator:
    """The open orchestrator, or 503 while the app is still opening the library."""
    return api_context(request).orchestrator()
