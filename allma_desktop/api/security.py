"""The API's bearer token: created on first start, kept next to the settings file.

The token lives in its own file (readable by the user only) rather than in
``settings.json``, so saving settings from the GUI never rewrites or leaks it.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's annotations,
# which name a local (`scheme`).
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allma_desktop.config import default_config_dir
from allma_desktop.errors import AllmaError

TOKEN_FILE_NAME = "api-token"


class Unauthorized(AllmaError):
    code = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}.",
            "Send `Authorization: Bearer <token>`; the token is shown in Settings "
            "and printed by `allma serve --show-token`.",
        )


def token_path(config_dir: Path | None = None) -> Path:
    return (config_dir or default_config_dir()) / TOKEN_FILE_NAME


def api_token(config_dir: Path | None = None) -> str:
    """The token clients must send; created (0600) on first call. Settings shows this."""
    path = token_path(config_dir)
    try:
        existing = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    return _create_token(path)


def _create_token(path: Path) -> str:
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    # Created 0600 from the start: the token is never readable by others, not even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)
    return token


def bearer_token_dependency(token: str) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency: the request must carry exactly this bearer token.

    Declared through ``HTTPBearer`` so the OpenAPI document names the scheme.
    """
    # auto_error=False: a missing token is answered in our own error format.
    scheme = HTTPBearer(auto_error=False, description="The token shown in Settings.")
    expected = token.encode()

    async def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(scheme)],
    ) -> None:
        if credentials is None:
            raise Unauthorized("This request has no bearer token")
        if not secrets.compare_digest(credentials.credentials.encode(), expected):
            raise Unauthorized("The bearer token is wrong")

    return require_token
