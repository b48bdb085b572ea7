"""Starts and stops the local API inside the desktop app, on the app's asyncio loop.

Off by default; the Settings page turns it on. The API reaches the library through
the engine at each request, so it follows a restarted engine (new data folder), and
what it changes is broadcast on the app's event hub so the views refresh.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from allma_desktop.errors import AllmaError
from allma_desktop.gui.ops import announce, background

if TYPE_CHECKING:
    from allma_desktop.api.server import ApiServer
    from allma_desktop.gui.orchestrator_host import OrchestratorHost

log = logging.getLogger(__name__)

# Hosts known to be this machine without importing the API package.
PLAIN_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class ApiController(QObject):
    """``state_changed(running, message)``: the message is the URL, a warning, or the error."""

    state_changed = Signal(bool, str)

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._server: ApiServer | None = None

    @property
    def running(self) -> bool:
        return self._server is not None and self._server.running

    @property
    def url(self) -> str | None:
        return self._server.url if self.running and self._server is not None else None

    def exposure_warning(self, host: str, port: int) -> str | None:
        """What to tell the user when the API would listen beyond this machine, or None."""
        if host in PLAIN_LOOPBACK_HOSTS:
            return None  # no need to import the API package (FastAPI, uvicorn) to know
        from allma_desktop.api.server import exposure_warning

        return exposure_warning(host, port)

    def token(self) -> str:
        """The bearer token clients must send (created on first call); Settings shows it."""
        from allma_desktop.api.token_file import api_token

        return api_token()

    def start(self) -> None:
        if self._server is None:
            background(self._host, self._start, description="The local API").success(
                self._on_started
            ).failure(self._on_start_failed).run()

    def stop(self) -> None:
        if self._server is not None:
            self._host.run(self._stop())

    async def _start(self) -> ApiServer:
        # FastAPI and uvicorn are imported only when the user turns the API on.
        from allma_desktop.api.app import ApiOptions, create_app
        from allma_desktop.api.server import ApiServer

        config = self._host.config
        app = create_app(
            lambda: self._host.orchestrator,
            config,
            ApiOptions(token=self.token()),
            on_change=self._broadcast,
        )
        server = ApiServer(app, config.api_host, config.api_port)
        self._server = server
        await server.start()
        return server

    def _on_started(self, server: ApiServer) -> None:
        from allma_desktop.api.server import exposure_warning

        warning = exposure_warning(self._host.config.api_host, server.port)
        self.state_changed.emit(True, warning or f"Listening on {server.url}")

    def _on_start_failed(self, error: AllmaError) -> None:
        self._server = None
        log.warning("the local API did not start: %s", error)
        self.state_changed.emit(False, str(error))

    async def _stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
        self.state_changed.emit(False, "Stopped")

    async def shutdown(self) -> None:
        """Stop the API as the app quits (await it before the engine stops)."""
        await self._stop()

    def _broadcast(self, what: str) -> None:
        # Documents and collections both change the library views.
        announce(self._host.events, ["conversations" if what == "conversations" else "documents"])
