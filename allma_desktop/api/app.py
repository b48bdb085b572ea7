"""``create_app``: the FastAPI application over an orchestrator."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.routing import Route

from allma_desktop import __version__
from allma_desktop.api import routes_library, routes_openai, routes_seed, routes_watch
from allma_desktop.api.context import (
    ApiContext,
    ChangeListener,
    OrchestratorProvider,
    current_orchestrator,
)
from allma_desktop.api.errors_http import ERROR_RESPONSES, install_error_handlers
from allma_desktop.api.host_check import AllowedHosts, HostCheckMiddleware
from allma_desktop.api.jobs import IngestJobs
from allma_desktop.api.json_body import ShowableJSONResponse
from allma_desktop.api.limits import BodyLimitMiddleware, BodyLimits
from allma_desktop.api.schemas import (
    ErrorDetail,
    HealthResponse,
    HealthSummary,
    OllamaStatus,
    StoreStatus,
)
from allma_desktop.api.security import bearer_token_dependency
from allma_desktop.api.token_file import api_token
from allma_desktop.config import AppConfig

if TYPE_CHECKING:
    from allma_desktop.api.mcp_http import McpEndpoint

log = logging.getLogger(__name__)

API_TITLE = "Allma Desktop local API"
API_DESCRIPTION = (
    "Chat with your documents, index files and search them, from scripts, editors and any "
    "OpenAI client. Every request but `GET /health` needs `Authorization: Bearer <token>` "
    "(the token is in Settings)."
)


@dataclass(frozen=True)
class ApiOptions:
    """How the API guards itself; the defaults are the safe ones."""

    token: str | None = None  # None: the token file next to the settings (created if missing)
    cors_origins: Sequence[str] = ()  # browsers on other origins are refused unless listed
    limits: BodyLimits = field(default_factory=BodyLimits)
    # None: the folders allowed in Settings (default: home); system folders never.
    ingest_roots: Sequence[Path] | None = None
    # Host names the API answers besides loopback and the address it listens on
    # (``listen_host``, default: the configured API_HOST).
    allowed_hosts: Sequence[str] = ()
    listen_host: str | None = None


def create_app(
    orchestrator_provider: OrchestratorProvider,
    config: AppConfig,
    options: ApiOptions | None = None,
    on_change: ChangeListener | None = None,
) -> FastAPI:
    """The API over whatever orchestrator ``orchestrator_provider`` returns at each request.

    The provider may return None while the app is still opening the library (503).
    ``on_change("documents" | "conversations" | "collections")`` is called after the API
    changed something, so the desktop app can refresh its views.
    """
    options = options or ApiOptions()
    token = options.token or api_token()
    mcp = _mcp_endpoint(orchestrator_provider, token, config.api_host, on_change)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if mcp is None:
            yield
            return
        async with mcp.running():
            yield

    app = FastAPI(
        lifespan=lifespan,
        title=API_TITLE,
        description=API_DESCRIPTION,
        version=__version__,
        openapi_url=None,  # served below, behind the token like everything but /health
        docs_url=None,
        redoc_url=None,
        default_response_class=ShowableJSONResponse,  # a file name that is not UTF-8: no 500
    )
    app.state.allma = ApiContext(
        orchestrator_provider=orchestrator_provider,
        config=config,
        jobs=IngestJobs(on_change),
        ingest_roots=options.ingest_roots,
        on_change=on_change,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, limits=options.limits)
    allowed = AllowedHosts(options.listen_host or config.api_host, options.allowed_hosts)
    app.add_middleware(HostCheckMiddleware, allowed=allowed)  # outermost: before anything
    if options.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Accept"],
        )

    app.include_router(_health_router(token))
    require_token = bearer_token_dependency(token)
    guarded: dict[str, Any] = {
        "dependencies": [Depends(require_token)],
        "responses": ERROR_RESPONSES,
    }
    app.include_router(routes_seed.router, tags=["seed"], **guarded)
    app.include_router(routes_library.router, tags=["library"], **guarded)
    app.include_router(routes_watch.router, tags=["watch"], **guarded)
    app.include_router(routes_openai.router, tags=["openai"], **guarded)
    app.include_router(_openapi_router(app), **guarded)
    if mcp is not None:
        # The library as an MCP server (streamable HTTP); checks the same token itself.
        app.router.routes.append(Route(mcp.path, mcp, include_in_schema=False))
    return app


def _mcp_endpoint(
    orchestrator_provider: OrchestratorProvider,
    token: str,
    host: str,
    on_change: ChangeListener | None,
) -> "McpEndpoint | None":
    """The /mcp endpoint, or None (logged) where the MCP SDK cannot be imported: the rest
    of the API must not depend on it (a packaged build that left a part of it out)."""
    try:
        from allma_desktop.api.mcp_http import McpEndpoint
    except ImportError as error:
        log.warning("The local API runs without /mcp: %s", error)
        return None
    return McpEndpoint(orchestrator_provider, token, host, on_change)


def _health_router(token: str) -> APIRouter:
    router = APIRouter()
    expected = token.encode()

    @router.get(
        "/health",
        response_model=HealthResponse | HealthSummary,
        tags=["seed"],
        summary="Is Ollama reachable and the library writable? (no token needed)",
        description="Without the bearer token only up or down; with it the full report "
        "(the data folder, the Ollama address, the models and the counts).",
        responses=ERROR_RESPONSES,
    )
    async def health(
        orchestrator: Annotated[Any, Depends(current_orchestrator)],
        authorization: Annotated[str | None, Header()] = None,
    ) -> HealthResponse | HealthSummary:
        report = await orchestrator.health()
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), expected):
            return HealthSummary(ok=report.ok, status="up" if report.ok else "down")
        ollama = report.ollama
        return HealthResponse(
            ok=report.ok,
            version=__version__,
            ollama=OllamaStatus(
                host=ollama.host,
                reachable=ollama.reachable,
                version=ollama.version,
                chat_model=ollama.chat_model,
                chat_model_present=ollama.chat_model_present,
                embedding_model=ollama.embedding_model,
                embedding_model_present=ollama.embedding_model_present,
                models=list(ollama.models),
            ),
            store=StoreStatus(path=report.store_path, writable=report.store_writable),
            documents=report.documents,
            chunks=report.chunks,
            collections=report.collections,
            problems=[ErrorDetail.of(problem) for problem in report.problems()],
        )

    return router


def _openapi_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    return router
