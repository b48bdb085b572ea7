"""Checks Ollama and the data folder, often while something is wrong, pulls models, and
rebuilds a damaged search index."""

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
    from allma_desktop.records import DoctorReport

log = logging.getLogger(__name__)

UNHEALTHY_INTERVAL_MS = 5_000  # retry soon: the user is probably starting Ollama right now
HEALTHY_INTERVAL_MS = 30_000


class HealthController(QObject):
    """Emits ``events.health_changed`` with each ``HealthReport``; ``pull`` downloads a model."""

    checking = Signal(bool)
    pull_progress = Signal(str, str, float)  # model, status, fraction 0..1 (-1: unknown)
    pull_finished = Signal(str)
    pull_failed = Signal(str, object)  # model, AllmaError
    rebuild_progress = Signal(int, int, str)  # documents done, of total, the last one's path
    rebuild_finished = Signal(object)  # DoctorReport
    rebuild_failed = Signal(object)  # AllmaError

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self.report: HealthReport | None = None
        self._check_task: asyncio.Task[None] | None = None
        self._recount_task: asyncio.Task[None] | None = None
        self._recount_again = False
        self._recount_after_check = False  # documents changed while a whole check ran
        self._rebuild_task: asyncio.Task[None] | None = None
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

    def recount(self) -> None:
        """The library's counts again, after its documents changed: the last report with
        fresh counts, not a whole check. A whole check also asks Ollama twice and writes a
        probe into each store, and documents change about once a second while a folder
        is indexed."""
        report = self.report
        checking = self._check_task is not None and not self._check_task.done()
        if report is None or checking:  # the check under way counts them, maybe too early:
            self._recount_after_check = checking  # it may have counted before this change
            self.check_now()
            return
        if self._recount_task is not None and not self._recount_task.done():
            self._recount_again = True  # once this one is in: its counts may be older
            return
        self._recount_again = False
        self._recount_task = (
            async_op(self._host, lambda o: o.recounted(report), description="Counting the library")
            .success(lambda counted: self._on_recounted(report, counted))
            .quiet_when_closed()
            .run()
        )

    def _on_recounted(self, counted_from: HealthReport, report: HealthReport) -> None:
        self._recount_task = None  # done: a recount asked for from here starts at once
        if self._check_task is not None and not self._check_task.done():
            return  # a whole check is under way: its report comes next
        if self.report is not counted_from:  # a newer check came in meanwhile: keep it
            self._recount_again = True
        else:
            self.report = report
            self._host.events.health_changed.emit(report)
        if self._recount_again:
            self.recount()

    def stop(self) -> None:
        self._timer.stop()

    def _on_report(self, report: HealthReport) -> None:
        self.report = report
        self._host.events.health_changed.emit(report)
        self._timer.start(HEALTHY_INTERVAL_MS if report.ok else UNHEALTHY_INTERVAL_MS)
        if self._recount_after_check:
            self._recount_after_check = False
            self._check_task = None  # done: its report is in
            self.recount()

    def _on_check_failed(self, error: AllmaError) -> None:
        log.warning("health check failed: %s", error)
        self._timer.start(UNHEALTHY_INTERVAL_MS)

    def pull(self, name: str) -> None:
        """Download ``name`` (or join its download under way); progress and the outcome
        come as signals."""
        self._host.pulls.pull(name)

    @property
    def rebuilding(self) -> bool:
        return self._rebuild_task is not None and not self._rebuild_task.done()

    def rebuild_index(self) -> None:
        """Set a damaged vector store aside and rebuild every vector from the stored texts
        (``doctor --repair``); progress and the outcome come as signals, then a re-check."""
        if self.rebuilding:
            return
        self._rebuild_task = (
            async_op(
                self._host,
                lambda o: o.doctor(repair=True, on_progress=self.rebuild_progress.emit),
                changes=("documents",),
                description="Rebuilding the index",
            )
            .success(self._on_rebuilt)
            .failure(self.rebuild_failed.emit)
            .finally_(self.check_now)
            .run()
        )

    def _on_rebuilt(self, report: DoctorReport) -> None:
        log.info("index rebuilt: %s", report.as_dict())
        self.rebuild_finished.emit(report)
