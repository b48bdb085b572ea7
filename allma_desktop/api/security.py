"""The API's bearer-token check (the token file itself is ``token_file.py``).

The token lives in its own file (readable by the user only) rather than in
``settings.json``, so saving settings from the GUI never rewrites or leaks it.
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's annotations,
# which name a local (`scheme`).
import secrets
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allma_desktop.errors import AllmaError


class Unauthorized(AllmaError):
    code = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"{detail}.",
            "Send `Authorization: Bearer <token>`; the token is shown in Settings "
            "and printed by `allma serve --show-token`.",
        )


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
