"""AllmaError kinds as HTTP answers: a fitting status and a JSON body, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

from allma_desktop.api.json_body import ShowableJSONResponse
from allma_desktop.api.schemas import ErrorDetail, ErrorResponse
from allma_desktop.errors import AllmaError

log = logging.getLogger(__name__)

# By ``AllmaError.code``; a code not listed is the client's problem (400).
STATUS_BY_CODE: dict[str, int] = {
    "unauthorized": 401,
    "path_not_allowed": 403,
    "host_not_allowed": 421,  # Misdirected Request, as the MCP SDK answers a foreign Host
    "not_found": 404,
    "model_missing": 404,
    "embedding_dimension_mismatch": 409,
    "name_taken": 409,
    "conflict": 409,
    "request_too_large": 413,
    "config_invalid": 422,
    "invalid_name": 422,
    # A well-formed request naming a model that cannot do the job (an embedding model to
    # chat with), or one Ollama refused as it stands: unprocessable as sent, not malformed.
    "wrong_model_kind": 422,
    "ollama_rejected": 422,
    "document_error": 422,
    "unsupported_file": 422,
    "encrypted": 422,
    "corrupt": 422,
    "no_text": 422,
    "empty": 422,
    "parse_timeout": 422,
    "parser_crashed": 422,
    "document_too_large": 422,
    "ollama_error": 502,
    "stream_interrupted": 502,
    "ollama_unreachable": 503,
    "store_not_writable": 503,
    "database_damaged": 503,
    "engine_not_ready": 503,
    "ollama_timeout": 504,
    "disk_full": 507,
}

# What each status means in the OpenAPI document (every error has the same body).
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    "4XX": {"model": ErrorResponse, "description": "The request cannot be served as sent."},
    "5XX": {"model": ErrorResponse, "description": "Ollama or the data folder is not usable."},
}


def status_for(error: AllmaError) -> int:
    return STATUS_BY_CODE.get(error.code, 400)


def error_response(error: AllmaError, field: str | None = None) -> JSONResponse:
    body = ErrorResponse(error=ErrorDetail.of(error, field))
    headers = {"WWW-Authenticate": "Bearer"} if error.code == "unauthorized" else None
    return ShowableJSONResponse(body.model_dump(), status_code=status_for(error), headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AllmaError)
    async def allma_error(request: Request, error: AllmaError) -> JSONResponse:
        log.info("%s %s -> %s: %s", request.method, request.url.path, error.code, error)
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0] if problems else {}
        field = ".".join(str(part) for part in first.get("loc", ()) if part != "body") or None
        message = first.get("msg", "The request is not valid")
        described = f"{field}: {message}" if field else str(message)
        body = ErrorResponse(
            error=ErrorDetail(
                code="invalid_request",
                message=f"{described}.",
                hint="Fix that field and send the request again; /openapi.json describes it.",
                field=field,
            )
        )
        return ShowableJSONResponse(body.model_dump(), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        body = ErrorResponse(
            error=ErrorDetail(
                code=_HTTP_CODES.get(error.status_code, "http_error"),
                message=f"{error.detail}.",
                hint="Check the method and the path against /openapi.json.",
            )
        )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return ShowableJSONResponse(
            body.model_dump(), status_code=error.status_code, headers=headers
        )

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> JSONResponse:
        # An SQLite failure no service translated (a damaged database): still a next step.
        from allma_desktop.orchestrator import database_error  # loaded: the API serves it

        translated = database_error(error, request.app.state.allma.config.database_path)
        if translated is not None:
            log.warning("%s %s -> %s: %s", request.method, request.url.path, translated.code, error)
            return error_response(translated)
        # A bug: logged with its traceback, answered without one.
        log.exception("unexpected error serving %s %s", request.method, request.url.path)
        body = ErrorResponse(
            error=ErrorDetail(
                code="internal_error",
                message="Allma hit an unexpected problem serving this request.",
                hint="It is in the log file; please report it.",
            )
        )
        return ShowableJSONResponse(body.model_dump(), status_code=500)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on this path (Starlette names only one route's)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, BaseRoute) and route.matches(request.scope)[0] != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_media_type",
}
