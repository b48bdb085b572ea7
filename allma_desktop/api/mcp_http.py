"""The MCP server (``allma_desktop.mcp_server``) over streamable HTTP at ``/mcp`` on the API.

The same bearer token as every other route guards it: a request without it is answered
401 in the API's error format before the MCP layer sees it. When the API listens on
loopback, the SDK's DNS-rebinding guard also refuses a Host (or browser Origin) that is
not this machine's, so a web page cannot reach it through a name that resolves here.

Stateless and JSON-answered: each POST is a whole exchange, so nothing is kept between
requests and a client may reconnect at will. The SDK's session manager must run around
every request; ``running()`` is entered by the API's lifespan (each start of the API
gets a new one, since a manager runs once).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send

from allma_desktop.api.context import ChangeListener, EngineNotReady, OrchestratorProvider
from allma_desktop.api.errors_http import error_response
from allma_desktop.api.security import Unauthorized
from allma_desktop.api.server import is_loopback_address
from allma_desktop.mcp_server import create_mcp_server

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"


class McpEndpoint:
    """ASGI app for ``/mcp``: the token check, then the SDK's streamable HTTP handler."""

    path = MCP_PATH

    def __init__(
        self,
        orchestrator_provider: OrchestratorProvider,
        token: str,
        listen_host: str,
        on_change: ChangeListener | None = None,
    ) -> None:
        self._server: MCPServer = create_mcp_server(orchestrator_provider, on_change)
        self._expected = token.encode()
        self._listen_host = listen_host
        self._app: Starlette | None = None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Serve MCP requests while inside; one manager per start of the API."""
        app = self._server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            # The SDK turns its Host/Origin check on for a loopback host name; behind a
            # LAN address (API_HOST=0.0.0.0) clients use this machine's name, so the
            # token is the guard there, as on every other route.
            host="127.0.0.1" if is_loopback_address(self._listen_host) else self._listen_host,
        )
        async with self._server.session_manager.run():
            self._app = app
            try:
                yield
            finally:
                self._app = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # pragma: no cover - only HTTP is routed here
            return
        error = self._refusal(scope)
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        app = self._app
        if app is None:
            await error_response(EngineNotReady())(scope, receive, send)
            return
        await app(scope, receive, send)

    def _refusal(self, scope: Scope) -> Unauthorized | None:
        given = next((value for name, value in scope["headers"] if name == b"authorization"), b"")
        scheme, _, credentials = given.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return Unauthorized("This request has no bearer token")
        if not secrets.compare_digest(credentials.strip().encode(), self._expected):
            return Unauthorized("The bearer token is wrong")
        return None
