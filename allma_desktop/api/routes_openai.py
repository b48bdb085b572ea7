"""An OpenAI-compatible door: any OpenAI client can chat with a collection, with citations.

``allma:<collection>`` models answer from that collection through the orchestrator's
chat (the same RAG path as the app); other model names are Ollama models answering
without documents. Each request is stored as a conversation, so it shows in the app.
"""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
import base64
import struct
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from allma_desktop.api.context import ApiContext, api_context, current_orchestrator
from allma_desktop.api.json_body import json_text
from allma_desktop.api.schemas import (
    GroundingOut,
    OpenAIAnswer,
    OpenAIChatCompletion,
    OpenAIChatRequest,
    OpenAIChoice,
    OpenAIEmbedding,
    OpenAIEmbeddingList,
    OpenAIEmbeddingRequest,
    OpenAIEmbeddingUsage,
    OpenAIModel,
    OpenAIModelList,
    OpenAIUsage,
    SourceOut,
    sources_with_support,
)
from allma_desktop.api.streaming import (
    SSE_HEADERS,
    SSE_MEDIA_TYPE,
    final_answer,
    primed_chat,
    replayed,
    with_check,
)
from allma_desktop.errors import AllmaError, NotFound, OllamaError
from allma_desktop.events import AnswerDone, ChatEvent, ThinkingChunk, TokenChunk
from allma_desktop.sources import Source

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import CollectionRecord
else:
    Orchestrator = Any  # imported lazily: the orchestrator pulls in chromadb

router = APIRouter(prefix="/v1")
OrchestratorDep = Annotated["Orchestrator", Depends(current_orchestrator)]
Context = Annotated[ApiContext, Depends(api_context)]

COLLECTION_MODEL_PREFIX = "allma:"


def collection_model_id(name: str) -> str:
    return f"{COLLECTION_MODEL_PREFIX}{name}"


@router.get("/models", response_model=OpenAIModelList, summary="Chat models and collections")
async def list_models(orchestrator: OrchestratorDep) -> OpenAIModelList:
    """Ollama's chat models, then one `allma:<collection>` per collection."""
    now = int(time.time())
    chat_models = await _chat_model_names(orchestrator)
    data = [OpenAIModel(id=name, created=now, owned_by="ollama") for name in chat_models]
    data += [
        OpenAIModel(
            id=collection_model_id(c.name), created=int(c.created_at.timestamp()), owned_by="allma"
        )
        for c in await asyncio.to_thread(orchestrator.collections)
    ]
    return OpenAIModelList(data=data)


async def _chat_model_names(orchestrator: Orchestrator) -> list[str]:
    models = await orchestrator.models()

    async def is_embedding(name: str) -> bool:
        try:
            return (await orchestrator.model_details(name)).is_embedding
        except OllamaError:
            return False

    embedding = await asyncio.gather(*(is_embedding(m.name) for m in models))
    return [m.name for m, skip in zip(models, embedding, strict=True) if not skip]


@router.post(
    "/chat/completions",
    response_model=OpenAIChatCompletion,
    summary="Chat completion, answered from a collection with citations",
    description="With `stream: true`, OpenAI's `chat.completion.chunk` events, then "
    "`data: [DONE]`; the last chunk carries `sources`.",
    responses={200: {"content": {SSE_MEDIA_TYPE: {"schema": {"type": "string"}}}}},
)
async def chat_completions(
    body: OpenAIChatRequest, orchestrator: OrchestratorDep, context: Context
) -> Any:
    question = body.messages[-1]
    if question.role != "user" or not question.text().strip():
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "messages", len(body.messages) - 1),
                    "msg": "the last message must be a non-empty user message",
                    "type": "value_error",
                }
            ]
        )
    collection = await asyncio.to_thread(_collection_for, orchestrator, body.model)
    chat_model = None if collection is not None else body.model
    conversation = await asyncio.to_thread(
        orchestrator.create_conversation,
        model=chat_model,
        collection_id=collection.id if collection is not None else None,
        use_documents=collection is not None,
        earlier=[
            (message.role, message.text())
            for message in body.messages[:-1]
            if message.role in ("user", "assistant") and message.text()
        ],
    )
    events = orchestrator.chat(conversation.id, question.text(), model=chat_model)
    read, rest = await primed_chat(events)
    stream = replayed(read, rest)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    if not body.stream:
        done = await final_answer(stream)
        context.changed("conversations")
        return _completion(completion_id, body.model, done)
    chunks = _completion_chunks(completion_id, body.model, stream, context)
    return StreamingResponse(chunks, media_type=SSE_MEDIA_TYPE, headers=SSE_HEADERS)


def _collection_for(orchestrator: Orchestrator, model: str) -> "CollectionRecord | None":
    if not model.startswith(COLLECTION_MODEL_PREFIX):
        return None
    name = model.removeprefix(COLLECTION_MODEL_PREFIX)
    try:
        return orchestrator.collection_by_name(name)
    except NotFound:
        raise NotFound(
            f"There is no collection named '{name}', so model '{model}' does not exist.",
            "GET /v1/models lists the allma:<collection> models.",
        ) from None


def citations_footer(sources: Sequence[Source]) -> str:
    """The cited sources as numbered lines under the answer, the way the app lists them."""
    if not sources:
        return ""
    lines = [
        f"[{s.number}] {s.title or s.path}" + (f", page {s.page}" if s.page else "")
        for s in sources
    ]
    return "\n\nSources:\n" + "\n".join(lines)


def _completion(completion_id: str, model: str, done: AnswerDone) -> OpenAIChatCompletion:
    prompt_tokens = done.prompt_tokens or 0
    completion_tokens = done.completion_tokens or 0
    return OpenAIChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=model,
        choices=[
            OpenAIChoice(
                index=0,
                message=OpenAIAnswer(
                    content=done.answer + citations_footer(done.sources),
                    reasoning_content=done.thinking or None,
                ),
                finish_reason="length" if done.interrupted else "stop",
            )
        ],
        usage=OpenAIUsage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        ),
        sources=sources_with_support([SourceOut.of(s) for s in done.sources], done.grounding),
        conversation_id=done.conversation_id,
        grounding=GroundingOut.of(done.grounding) if done.grounding is not None else None,
    )


async def _completion_chunks(
    completion_id: str, model: str, stream: AsyncIterator[ChatEvent], context: ApiContext
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json_text(payload)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    done: AnswerDone | None = None  # held until its check (AnswerChecked) or the end
    async for event in stream:
        if isinstance(event, ThinkingChunk):
            yield chunk({"reasoning_content": event.text})
        elif isinstance(event, TokenChunk):
            yield chunk({"content": event.text})
        else:
            done = with_check(done, event)
    if done is not None:
        context.changed("conversations")
        footer = citations_footer(done.sources)
        if footer:
            yield chunk({"content": footer})
        if done.error is not None:
            yield _error_event(done.error)
        sources = sources_with_support([SourceOut.of(s) for s in done.sources], done.grounding)
        grounding = GroundingOut.of(done.grounding).model_dump() if done.grounding else None
        finish = "length" if done.interrupted else "stop"
        yield chunk(
            {},
            finish,
            sources=[source.model_dump() for source in sources],
            conversation_id=done.conversation_id,
            grounding=grounding,
        )
    yield b"data: [DONE]\n\n"


def _error_event(error: AllmaError) -> bytes:
    body = {"error": {"code": error.code, "message": error.message, "hint": error.hint}}
    return f"data: {json_text(body)}\n\n".encode()


@router.post("/embeddings", response_model=OpenAIEmbeddingList, summary="Embeddings via Ollama")
async def embeddings(
    body: OpenAIEmbeddingRequest, orchestrator: OrchestratorDep
) -> OpenAIEmbeddingList:
    """Passes through to Ollama; `allma:*` stands for the embedding model in Settings."""
    model = body.model
    if model.startswith(COLLECTION_MODEL_PREFIX):
        model = orchestrator.config.ollama_embedding_model
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    vectors = await orchestrator.embed(model, texts)
    data = [
        OpenAIEmbedding(index=i, embedding=_encoded(vector, body.encoding_format))
        for i, vector in enumerate(vectors)
    ]
    return OpenAIEmbeddingList(
        data=data, model=model, usage=OpenAIEmbeddingUsage(prompt_tokens=0, total_tokens=0)
    )


def _encoded(vector: list[float], encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":  # what the openai client asks for by default
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
    return vector
