"""Request body limits, enforced as the body arrives (a missing Content-Length is no way round)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allma_desktop.api.errors_http import error_response
from allma_desktop.errors import RequestTooLarge

UPLOAD_PATH = "/rag/ingest"


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int = 4 * 1024 * 1024  # a question, a path list, an embedding batch
    upload_bytes: int = 2 * 1024 * 1024 * 1024  # documents uploaded in one request


class BodyLimitMiddleware:
    """Answers 413 when a request body is larger than its limit, before the route sees it all."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(RequestTooLarge(limit))(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise RequestTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # whatever the route made of the cut body; our 413 goes instead
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except RequestTooLarge:
            if not exceeded:
                raise
        if exceeded and not response_started:
            await error_response(RequestTooLarge(limit))(scope, receive, send)

    def _limit_for(self, scope: Scope) -> int:
        if scope.get("path") == UPLOAD_PATH and _is_multipart(scope):
            return self.limits.upload_bytes
        return self.limits.json_bytes


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def _content_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _is_multipart(scope: Scope) -> bool:
    return (_header(scope, b"content-type") or b"").lower().startswith(b"multipart/form-data")
