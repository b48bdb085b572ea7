"""``ApiServer``: uvicorn serving the API on the running asyncio loop (the app's, or the CLI's)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import sys
from collections.abc import Generator

import uvicorn
from fastapi import FastAPI

from allma_desktop.api.context import ApiContext
from allma_desktop.errors import AllmaError, PortInUse

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5


def is_loopback_address(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, port: int) -> str | None:
    """What to tell the user when the API listens beyond this machine (Settings shows it too)."""
    if is_loopback_address(host):
        return None
    return (
        f"The local API listens on {host}:{port}, so other machines on the network can reach "
        "it; anyone with the token can read your documents and conversations. Set API_HOST to "
        "127.0.0.1 to keep it on this machine."
    )


class _Uvicorn(uvicorn.Server):
    """uvicorn that reports when it is listening and leaves signal handling to its host."""

    def __init__(self, config: uvicorn.Config, handle_signals: bool) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()
        self._handle_signals = handle_signals

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # Inside the desktop app, Ctrl+C and SIGTERM belong to the app, not to the API.
        if self._handle_signals:
            with super().capture_signals():
                yield
        else:
            yield


class ApiServer:
    """Start and stop the API on the running loop: ``await start()`` ... ``await stop()``."""

    def __init__(self, app: FastAPI, host: str, port: int, *, handle_signals: bool = False) -> None:
        self.app = app
        self.host = host
        self.port = port  # 0 picks a free port; the real one is set by start()
        self._handle_signals = handle_signals
        self._server: _Uvicorn | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen, or raise ``PortInUse`` naming the port and how to change it."""
        if self.running:
            return
        listener = self._bind()
        self.port = listener.getsockname()[1]
        warning = exposure_warning(self.host, self.port)
        if warning:
            log.warning(warning)
        config = uvicorn.Config(
            self.app,
            # The app's lifespan runs only the MCP endpoint's session manager; the
            # orchestrator's life is the app's business, not the API's.
            lifespan="on",
            log_config=None,  # keep the app's logging setup
            access_log=False,
            timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        )
        server = _Uvicorn(config, self._handle_signals)
        self._server = server
        self._task = asyncio.ensure_future(server.serve(sockets=[listener]))
        listening = asyncio.ensure_future(server.listening.wait())
        await asyncio.wait({self._task, listening}, return_when=asyncio.FIRST_COMPLETED)
        if not server.listening.is_set():
            listening.cancel()
            listener.close()
            error = self._task.exception() if not self._task.cancelled() else None
            raise AllmaError(
                f"The local API could not start on {self.url}: {error}.", "See the log file."
            )
        log.info("Local API listening on %s", self.url)

    async def serve_until_stopped(self) -> None:
        """For ``allma serve``: wait until Ctrl+C / SIGTERM (or ``stop()``)."""
        if self._task is not None:
            await self._task

    async def stop(self) -> None:
        """Stop listening, cancel ingest jobs, and let open requests finish briefly."""
        server, task = self._server, self._task
        if server is None or task is None:
            return
        context: ApiContext = self.app.state.allma
        await context.jobs.close()
        server.should_exit = True
        try:
            await asyncio.wait_for(task, SHUTDOWN_GRACE_SECONDS * 2)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        finally:
            self._server = self._task = None
        log.info("Local API stopped")

    def _bind(self) -> socket.socket:
        """Bind the socket ourselves: uvicorn would exit the process on a port in use."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        if sys.platform != "win32":
            # Reuse a port left in TIME_WAIT by our last run. (On Windows this option would
            # let us share a port another program listens on, so it is left off there.)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(128)
        except OSError as error:
            listener.close()
            if error.errno == errno.EADDRINUSE:
                raise PortInUse(self.host, self.port) from None
            raise AllmaError(
                f"The local API cannot listen on {self.host}:{self.port}: "
                f"{error.strerror or error}.",
                "Set API_HOST to an address of this machine (127.0.0.1 keeps it local), "
                "and API_PORT to a free port above 1024.",
            ) from None
        listener.setblocking(False)
        return listener
