"""The Host header check: the API answers only requests addressed to this machine.

A web page can make a browser send requests to ``127.0.0.1`` under a host name of its
own (DNS rebinding): the browser then treats our answers as that page's, so the page
could read them. Such a request carries the page's host name in ``Host``; refusing
every name but the loopback names, the address the API listens on and the names the
user added closes that door, for every route including ``/health``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from allma_desktop.api.errors_http import error_response
from allma_desktop.errors import AllmaError

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
WILDCARD_ADDRESSES = frozenset({"0.0.0.0", "::", ""})


class HostNotAllowed(AllmaError):
    code = "host_not_allowed"

    def __init__(self, host: str) -> None:
        super().__init__(
            f"Requests addressed to '{host}' are not served.",
            "Call the API at http://127.0.0.1 or http://localhost (or the address it listens "
            "on); a web page under another name cannot use it.",
        )
        self.host = host


def host_name(header: str) -> str:
    """The name in a Host header, without its port or IPv6 brackets, lowercased."""
    value = header.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


class AllowedHosts:
    """Which Host names the API answers: loopback, its own address, and ``extra``."""

    def __init__(self, listen_host: str, extra: Iterable[str] = ()) -> None:
        self.listen_host = host_name(listen_host)
        self.extra = {host_name(name) for name in extra if name.strip()}

    def allows(self, header: str | None) -> bool:
        if header is None:
            return True  # HTTP/1.0 without Host: not a browser, which always sends one
        name = host_name(header)
        if name in LOOPBACK_NAMES or name.endswith(".localhost") or name in self.extra:
            return True
        if name == self.listen_host and name not in WILDCARD_ADDRESSES:
            return True
        address = _ip(name)
        if address is None:
            return False  # a name the page chose: exactly what a rebinding attack sends
        # An address cannot be rebound: a page can only be served from it by this server.
        # Loopback always; any other only when the API listens beyond loopback.
        return (
            address.is_loopback
            or self.listen_host in WILDCARD_ADDRESSES
            or (_ip(self.listen_host) == address)
        )


class HostCheckMiddleware:
    def __init__(self, app: ASGIApp, allowed: AllowedHosts) -> None:
        self.app = app
        self.allowed = allowed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            header = None
            for key, value in scope.get("headers", ()):
                if key == b"host":
                    header = value.decode("latin-1")
                    break
            if not self.allowed.allows(header):
                await error_response(HostNotAllowed(header or ""))(scope, receive, send)
                return
        await self.app(scope, receive, send)
