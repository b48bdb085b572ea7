"""Checks Ollama and the data folder, often while something is wrong, and pulls models."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from allma_desktop.errors import AllmaError
from allma_desktop.gui.ops import async_op

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import HealthReport

log = logging.getLogger(__name__)

UNHEALTHY_INTERVAL_MS = 5_000  # retry soon: the user is probably starting Ollama right now
HEALTHY_INTERVAL_MS = 30_000


class HealthController(QObject):
    """Emits ``events.health_changed`` with each ``HealthReport``; ``pull`` downloads a model."""

    checking = Signal(bool)
    pull_progress = Signal(str, str, float)  # model, status, fraction 0..1 (-1: unknown)
    pull_finished = Signal(str)
    pull_failed = Signal(str, object)  # model, AllmaError

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.report: HealthReport | None = None
        self._check_task: asyncio.Task[None] | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check_now)
        host.events.engine_ready.connect(self.check_now)
        host.events.settings_changed.connect(self.check_now)
        # Downloads go through the app's one pipeline, shared with the Settings page.
        pulls = host.pulls
        pulls.progress.connect(self.pull_progress)
        pulls.failed.connect(self.pull_failed)
        pulls.finished.connect(self.pull_finished)
        pulls.finished.connect(lambda _model: self.check_now())

    @property
    def pulling(self) -> set[str]:
        return self._host.pulls.pulling

    def check_now(self) -> None:
        """Re-check at once (the Reconnect action, or the timer)."""
        if self._host.orchestrator is None:
            return
        if self._check_task is not None and not self._check_task.done():
            return
        self._timer.stop()
        self.checking.emit(True)
        self._check_task = (
            async_op(self._host, lambda o: o.health(), description="The health check")
            .success(self._on_report)
            .failure(self._on_check_failed)
            .finally_(lambda: self.checking.emit(False))
            .quiet_when_closed()
            .run()
        )

    def stop(self) -> None:
        self._timer.stop()

    def _on_report(self, report: HealthReport) -> None:
        self.report = report
        self._host.events.health_changed.emit(report)
        self._timer.start(HEALTHY_INTERVAL_MS if report.ok else UNHEALTHY_INTERVAL_MS)

    def _on_check_failed(self, error: AllmaError) -> None:
        log.warning("health check failed: %s", error)
        self._timer.start(UNHEALTHY_INTERVAL_MS)

    def pull(self, name: str) -> None:
        """Download ``name`` (or join its download under way); progress and the outcome
        come as signals."""
        self._host.pulls.pull(name)
