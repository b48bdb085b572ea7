"""The one place the window pulls models from: one download per model, whoever asks.

The Health banner (first run: "pull the missing model") and the Settings page both
ask here, so a model asked for twice, from two screens or by two clicks, is pulled
once: the second request joins the download under way and sees the same progress.
Progress, the outcome and a cancel reach every screen as this object's signals.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from allma_desktop.errors import AllmaError
from allma_desktop.gui.ops import not_open_error

if TYPE_CHECKING:
    from allma_desktop.gui.orchestrator_host import OrchestratorHost

log = logging.getLogger(__name__)


class ModelPulls(QObject):
    """``pull(name)`` starts a download or joins the one under way; ``cancel(name)`` stops it."""

    started = Signal(str)  # model
    progress = Signal(str, str, float)  # model, status, fraction 0..1 (-1: unknown)
    finished = Signal(str)  # model, now in Ollama
    failed = Signal(str, object)  # model, AllmaError
    cancelled = Signal(str)  # model

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._pulls: dict[str, asyncio.Task[None]] = {}
        self.started_count = 0  # downloads actually started (joined requests are not)

    @property
    def pulling(self) -> set[str]:
        """The models being downloaded now."""
        return {name for name, task in self._pulls.items() if not task.done()}

    def pull(self, name: str) -> bool:
        """Download ``name``; False when it joins a download already under way (or the
        library is not open: ``failed`` follows then)."""
        name = name.strip()
        if not name or name in self.pulling:
            return False
        if self._host.orchestrator is None:
            self.failed.emit(name, not_open_error())
            return False
        self.started_count += 1
        self._pulls[name] = self._host.run(self._pull(name))
        self.started.emit(name)
        return True

    def cancel(self, name: str) -> None:
        """Stop downloading ``name`` (for every screen that asked); ``cancelled`` follows."""
        task = self._pulls.get(name.strip())
        if task is not None and not task.done():
            task.cancel()

    async def _pull(self, name: str) -> None:
        orchestrator = self._host.orchestrator
        try:
            if orchestrator is None:
                raise not_open_error()
            async for step in orchestrator.pull(name):
                fraction = step.fraction
                self.progress.emit(name, step.status, -1.0 if fraction is None else fraction)
        except AllmaError as error:
            log.info("pulling %s failed: %s", name, error)
            self.failed.emit(name, error)
            return
        except asyncio.CancelledError:
            self.cancelled.emit(name)  # closing the stream stops Ollama's download
            raise
        finally:
            self._pulls.pop(name, None)
        self.finished.emit(name)


__all__ = ["ModelPulls"]
