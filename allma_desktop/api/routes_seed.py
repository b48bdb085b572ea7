"""The seed's endpoints: /chat/, /rag/ingest, /rag/search, /models/ (and /health, in app.py)."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from allma_desktop.api.context import ApiContext, api_context, current_orchestrator
from allma_desktop.api.ingest_sources import allowed_files, remove_uploads, save_upload
from allma_desktop.api.schemas import (
    MAX_ID,
    ChatRequest,
    ChatResponse,
    IngestJobOut,
    IngestPathsRequest,
    ModelOut,
    ModelsResponse,
    SearchRequest,
    SearchResponse,
    SourceOut,
)
from allma_desktop.api.streaming import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    final_answer,
    primed_chat,
    replayed,
    sse,
    wants_event_stream,
    with_check,
)
from allma_desktop.errors import ModelMissing, OllamaRejected, WrongModelKind
from allma_desktop.events import (
    AnswerDone,
    ChatEvent,
    ChatStarted,
    SourcesFound,
    ThinkingChunk,
    TokenChunk,
)
from allma_desktop.records import ContextMode

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator
else:
    Orchestrator = Any  # imported lazily: the orchestrator pulls in chromadb

router = APIRouter()
# Errors of an answer that the asker, not the server, must fix: answered 4xx.
CLIENT_ERRORS = (WrongModelKind, OllamaRejected, ModelMissing)
OrchestratorDep = Annotated["Orchestrator", Depends(current_orchestrator)]
Context = Annotated[ApiContext, Depends(api_context)]

MAX_UPLOAD_FILES = 1_000
JOB_ID_CHARS = 64

CHAT_STREAM_DESCRIPTION = (
    "With `Accept: text/event-stream` the answer streams as Server-Sent Events: "
    "`started` (conversation and message ids), `sources` (the passages given to the model), "
    "`thinking` and `token` (`{text}` pieces), then `done` with the ChatResponse."
)


@router.post(
    "/chat/",
    response_model=ChatResponse,
    summary="Ask a question of your documents",
    description=CHAT_STREAM_DESCRIPTION,
    responses={200: {"content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
async def chat(
    body: ChatRequest,
    orchestrator: OrchestratorDep,
    context: Context,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    events = orchestrator.chat(
        body.conversation_id,
        body.message,
        model=body.model,
        collection_id=body.collection_id,
        use_documents=body.use_documents,
        context_mode=ContextMode(body.context_mode) if body.context_mode else None,
    )
    read, rest = await primed_chat(events)
    stream = replayed(read, rest)
    if not wants_event_stream(accept):
        done = await final_answer(stream)
        context.changed("conversations")
        if isinstance(done.error, CLIENT_ERRORS):
            # The request must change (another model): a 4xx, even after the preamble
            # the answer starts with. The question and the failed answer are kept.
            raise done.error
        return ChatResponse.of(done)
    return StreamingResponse(
        _chat_events(stream, context), media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS
    )


async def _chat_events(
    stream: AsyncIterator[ChatEvent], context: ApiContext
) -> AsyncIterator[bytes]:
    done: AnswerDone | None = None  # held until its check (AnswerChecked) or the end
    async for event in stream:
        if isinstance(event, ChatStarted):
            yield sse(
                "started",
                {
                    "conversation_id": event.conversation_id,
                    "user_message_id": event.user_message_id,
                    "message_id": event.assistant_message_id,
                },
            )
        elif isinstance(event, SourcesFound):
            sources = [SourceOut.of(s).model_dump() for s in event.sources]
            yield sse(
                "sources", {"sources": sources, "whole_documents": list(event.whole_documents)}
            )
        elif isinstance(event, ThinkingChunk):
            yield sse("thinking", {"text": event.text})
        elif isinstance(event, TokenChunk):
            yield sse("token", {"text": event.text})
        else:
            done = with_check(done, event)
    if done is not None:
        context.changed("conversations")
        yield sse("done", ChatResponse.of(done).model_dump(mode="json"))


# --- ingest -----------------------------------------------------------------------------

_PATHS_SCHEMA = IngestPathsRequest.model_json_schema()
_UPLOAD_FIELDS = {"files", "collection_id", "force"}
_UPLOAD_SCHEMA = {
    "type": "object",
    "required": ["files"],
    "properties": {
        "files": {
            "type": "array",
            "minItems": 1,
            "items": {"type": "string", "format": "binary"},
        },
        "collection_id": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        "force": {"type": "boolean"},
    },
    # A misspelt field (``collection``, ``file``) is refused, not silently ignored.
    "additionalProperties": False,
}
_INGEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": _PATHS_SCHEMA},
            "multipart/form-data": {"schema": _UPLOAD_SCHEMA},
        },
    }
}


@router.post(
    "/rag/ingest",
    response_model=IngestJobOut,
    status_code=202,
    summary="Index files: paths on this machine (JSON) or uploads (multipart)",
    description="Returns a job at once; follow it with GET /rag/ingest/{job_id}.",
    openapi_extra=_INGEST_BODY,
)
async def ingest(request: Request, orchestrator: OrchestratorDep, context: Context) -> IngestJobOut:
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        files, collection_id, force = await _uploaded(request, context, orchestrator)
        job = context.jobs.start(orchestrator, files, collection_id, force, uploads=True)
        return job.snapshot()
    if content_type in ("", "application/json") or content_type.startswith("application/json;"):
        body = await _paths_request(request)
        files = await asyncio.to_thread(
            allowed_files, body.paths, context.ingest_folders(), context.config.data_dir
        )
        collection_id, force = body.collection_id, body.force
    else:
        raise HTTPException(415, "Send JSON with paths, or multipart/form-data with files")
    # A missing collection is a 404 now, not a failed job.
    await asyncio.to_thread(orchestrator.collection, collection_id)
    job = context.jobs.start(orchestrator, files, collection_id, force)
    return job.snapshot()


async def _paths_request(request: Request) -> IngestPathsRequest:
    raw = await request.body()
    try:
        return IngestPathsRequest.model_validate_json(raw)
    except ValidationError as error:
        problems = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(problems) from None


async def _uploaded(
    request: Request, context: ApiContext, orchestrator: "Orchestrator"
) -> tuple[list[Any], int | None, bool]:
    # Starlette spools each file part to a temporary file past 1 MiB: never whole in memory.
    async with request.form(max_files=MAX_UPLOAD_FILES, max_fields=10) as form:
        unknown = sorted(set(form.keys()) - _UPLOAD_FIELDS)
        if unknown:
            raise _invalid_field(
                unknown[0][:40], "is not a field of this request (files, collection_id, force)"
            )
        for single in ("collection_id", "force"):  # an array in the schema's terms
            if len(form.getlist(single)) > 1:
                raise _invalid_field(single, "is given more than once")
        uploads = [item for item in form.getlist("files") if isinstance(item, UploadFile)]
        if not uploads:
            raise _invalid_field("files", "at least one file part named 'files' is required")
        collection_id = _form_int(form.get("collection_id"), "collection_id")
        force = _form_bool(form.get("force"), "force")
        # A 404 before anything is written.
        await asyncio.to_thread(orchestrator.collection, collection_id)
        saved: list[Any] = []
        try:
            for upload in uploads:
                saved.append(
                    await save_upload(upload.file, upload.filename or "", context.uploads_dir)
                )
        except BaseException:
            await asyncio.to_thread(remove_uploads, saved)  # a failed upload leaves nothing
            raise
    return saved, collection_id, force


def _form_bool(value: object, field: str) -> bool:
    """A form field's boolean, written as JSON writes one (the published schema says
    boolean); anything else is refused, never read as false."""
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in {"true", "false"}:
        return text == "true"
    raise _invalid_field(field, f"must be true or false, not {str(value)[:40]!r}")


def _form_int(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value))
    except ValueError:
        raise _invalid_field(field, "must be a whole number") from None
    if not 1 <= number <= MAX_ID:  # as the JSON body's RecordId: SQLite takes 64 bits at most
        raise _invalid_field(field, f"must be from 1 to {MAX_ID}")
    return number


def _invalid_field(field: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("body", field), "msg": message, "type": "value_error"}])


JobId = Annotated[str, Path(max_length=JOB_ID_CHARS)]


@router.get("/rag/ingest/{job_id}", response_model=IngestJobOut, summary="An ingest job's progress")
async def ingest_job(job_id: JobId, context: Context) -> IngestJobOut:
    return context.jobs.get(job_id).snapshot()


@router.delete("/rag/ingest/{job_id}", response_model=IngestJobOut, summary="Cancel an ingest job")
async def cancel_ingest_job(job_id: JobId, context: Context) -> IngestJobOut:
    return context.jobs.cancel(job_id).snapshot()


# --- search and models ---------------------------------------------------------------------


@router.post("/rag/search", response_model=SearchResponse, summary="Passages matching a query")
async def search(body: SearchRequest, orchestrator: OrchestratorDep) -> SearchResponse:
    found = await orchestrator.search_results(
        body.query, body.collection_id, body.k, body.document_ids or None
    )
    return SearchResponse(results=[SourceOut.of(s) for s in found.sources], notice=found.notice)


@router.get("/models/", response_model=ModelsResponse, summary="Models available in Ollama")
async def models(orchestrator: OrchestratorDep) -> ModelsResponse:
    found = await orchestrator.models()
    return ModelsResponse(
        models=[ModelOut.of(m) for m in found],
        chat_model=orchestrator.config.ollama_model,
        embedding_model=orchestrator.config.ollama_embedding_model,
    )
