"""Checks Ollama and the data folder, often while something is wrong, and pulls models."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal

from allma_desktop.errors import AllmaError

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
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.check_now)
        host.events.engine_ready.connect(self.check_now)
        host.events.settings_changed.connect(self.check_now)

    @property
    def pulling(self) -> set[str]:
        return {name for name, task in self._pulls.items() if not task.done()}

    def check_now(self) -> None:
        """Re-check at once (the Reconnect action, or the timer)."""
        if self._host.orchestrator is None:
            return
        if self._check_task is not None and not self._check_task.done():
            return
        self._timer.stop()
        self._check_task = self._host.run(self._check())

    def stop(self) -> None:
        self._timer.stop()

    async def _check(self) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return
        self.checking.emit(True)
        try:
            report = await orchestrator.health()
        except AllmaError as error:
            log.warning("health check failed: %s", error)
            self._timer.start(UNHEALTHY_INTERVAL_MS)
            return
        finally:
            self.checking.emit(False)
        self.report = report
        self._host.events.health_changed.emit(report)
        self._timer.start(HEALTHY_INTERVAL_MS if report.ok else UNHEALTHY_INTERVAL_MS)

    def pull(self, name: str) -> None:
        """Download ``name`` through Ollama; progress and the outcome come as signals."""
        if name in self.pulling or self._host.orchestrator is None:
            return
        self._pulls[name] = self._host.run(self._pull(name))

    async def _pull(self, name: str) -> None:
        orchestrator = self._host.orchestrator
        if orchestrator is None:
            return
        try:
            async for progress in orchestrator.pull(name):
                fraction = progress.fraction
                self.pull_progress.emit(
                    name, progress.status, -1.0 if fraction is None else fraction
                )
        except AllmaError as error:
            self.pull_failed.emit(name, error)
            return
        self.pull_finished.emit(name)
        self.check_now()
