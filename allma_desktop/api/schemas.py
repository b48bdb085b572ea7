"""Request and response models of the local API (they make its OpenAPI document).

Converters from the orchestrator's dataclasses live next to the models they fill,
so a route is one call and one conversion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from allma_desktop.errors import AllmaError
from allma_desktop.events import AnswerDone, FileFinished, Source
from allma_desktop.services.conversations import ConversationRecord, MessageRecord, SourceRecord
from allma_desktop.services.library import CollectionRecord, DocumentRecord
from allma_desktop.services.llm import ModelInfo

MAX_TEXT_CHARS = 100_000  # one question or message; far above any model's context
MAX_PATHS = 1_000
MAX_NAME_CHARS = 200

MAX_ID = 2**53 - 1  # exact in JSON numbers everywhere, and within SQLite integers

EmbeddingText = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]


# --- errors ---------------------------------------------------------------------


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable kind, e.g. `ollama_unreachable`.")
    message: str = Field(description="What went wrong, in plain words.")
    hint: str = Field(description="What to do next.")
    field: str | None = Field(default=None, description="The request field at fault, if any.")

    @classmethod
    def of(cls, error: AllmaError, field: str | None = None) -> ErrorDetail:
        return cls(code=error.code, message=error.message, hint=error.hint, field=field)


class ErrorResponse(BaseModel):
    error: ErrorDetail


# --- sources, chat, search ----------------------------------------------------------


class SourceOut(BaseModel):
    number: int = Field(description="The number the answer cites it by: [number].")
    path: str
    title: str
    page: int | None
    score: float
    snippet: str
    document_id: str
    chunk_id: str

    @classmethod
    def of(cls, source: Source | SourceRecord) -> SourceOut:
        return cls(
            number=source.number,
            path=source.path,
            title=source.title,
            page=source.page,
            score=round(source.score, 4),
            snippet=source.snippet,
            document_id=source.document_id,
            chunk_id=source.chunk_id,
        )


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="The question.")
    conversation_id: RecordId | None = Field(
        default=None, description="Continue this conversation; a new one when omitted."
    )
    model: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    collection_id: RecordId | None = Field(default=None, description="Default: the Library.")
    use_documents: bool | None = Field(default=None, description="Default: true.")


class ChatResponse(BaseModel):
    """The whole answer; also the data of the final `done` event of a streamed chat."""

    conversation_id: int
    message_id: int
    answer: str
    thinking: str
    sources: list[SourceOut] = Field(description="Only the sources the answer cites.")
    model: str
    interrupted: bool
    error: ErrorDetail | None
    prompt_tokens: int | None
    completion_tokens: int | None
    duration_ms: float | None

    @classmethod
    def of(cls, done: AnswerDone) -> ChatResponse:
        return cls(
            conversation_id=done.conversation_id,
            message_id=done.message_id,
            answer=done.answer,
            thinking=done.thinking,
            sources=[SourceOut.of(s) for s in done.sources],
            model=done.model,
            interrupted=done.interrupted,
            error=ErrorDetail.of(done.error) if done.error else None,
            prompt_tokens=done.prompt_tokens,
            completion_tokens=done.completion_tokens,
            duration_ms=done.duration_ms,
        )


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    k: int | None = Field(default=None, ge=1, le=50, description="Default: top_k in Settings.")
    collection_id: RecordId | None = None
    document_ids: list[str] | None = Field(default=None, max_length=MAX_PATHS)


class SearchResponse(BaseModel):
    results: list[SourceOut]


# --- ingest ------------------------------------------------------------------------


class IngestPathsRequest(BaseModel):
    paths: list[str] = Field(
        min_length=1,
        max_length=MAX_PATHS,
        description="Absolute paths of files or folders on this machine.",
    )
    collection_id: RecordId | None = None
    force: bool = Field(default=False, description="Re-index files even when unchanged.")


class FileResultOut(BaseModel):
    path: str
    status: Literal["indexed", "unchanged", "failed", "skipped"]
    reason: str
    document_id: str | None
    chunks: int
    pages: int | None

    @classmethod
    def of(cls, result: FileFinished) -> FileResultOut:
        return cls(
            path=result.path,
            status=result.status,
            reason=result.reason,
            document_id=result.document_id,
            chunks=result.chunks,
            pages=result.pages,
        )


JobStatus = Literal["queued", "running", "finished", "cancelled", "failed"]


class IngestJobOut(BaseModel):
    id: str
    status: JobStatus
    collection_id: int | None
    files_total: int | None = Field(description="Known once the paths are expanded.")
    files_done: int
    chunks_done: int
    current_file: str | None
    eta_seconds: float | None
    results: list[FileResultOut]
    error: ErrorDetail | None = Field(description="A failure that stopped the whole job.")
    created_at: datetime


# --- models and health ---------------------------------------------------------------


class ModelOut(BaseModel):
    name: str
    size_bytes: int
    family: str | None
    parameter_size: str | None
    modified_at: str | None

    @classmethod
    def of(cls, model: ModelInfo) -> ModelOut:
        return cls(
            name=model.name,
            size_bytes=model.size_bytes,
            family=model.family,
            parameter_size=model.parameter_size,
            modified_at=model.modified_at,
        )


class ModelsResponse(BaseModel):
    models: list[ModelOut]
    chat_model: str = Field(description="The chat model in Settings.")
    embedding_model: str = Field(description="The embedding model in Settings.")


class OllamaStatus(BaseModel):
    host: str
    reachable: bool
    version: str | None
    chat_model: str
    chat_model_present: bool
    embedding_model: str
    embedding_model_present: bool
    models: list[str]


class StoreStatus(BaseModel):
    path: str
    writable: bool


class HealthResponse(BaseModel):
    ok: bool
    version: str = Field(description="Allma Desktop's version.")
    ollama: OllamaStatus
    store: StoreStatus
    documents: int
    chunks: int
    collections: int
    problems: list[ErrorDetail]


# --- conversations, documents, collections -------------------------------------------


class ConversationOut(BaseModel):
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None
    collection_id: int | None
    use_documents: bool
    message_count: int

    @classmethod
    def of(cls, record: ConversationRecord) -> ConversationOut:
        return cls(
            id=record.id,
            title=record.title,
            created_at=record.created_at,
            updated_at=record.updated_at,
            model=record.model,
            collection_id=record.collection_id,
            use_documents=record.use_documents,
            message_count=record.message_count,
        )


class MessageOut(BaseModel):
    id: int
    role: str
    content: str
    thinking: str
    model: str | None
    status: str
    error: str | None
    created_at: datetime
    sources: list[SourceOut]

    @classmethod
    def of(cls, record: MessageRecord) -> MessageOut:
        return cls(
            id=record.id,
            role=record.role,
            content=record.content,
            thinking=record.thinking,
            model=record.model,
            status=record.status,
            error=record.error,
            created_at=record.created_at,
            sources=[SourceOut.of(s) for s in record.sources],
        )


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class DocumentOut(BaseModel):
    id: str
    collection_id: int
    path: str
    title: str
    file_type: str
    size_bytes: int
    page_count: int | None
    chunk_count: int
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, record: DocumentRecord) -> DocumentOut:
        return cls(
            id=record.id,
            collection_id=record.collection_id,
            path=record.path,
            title=record.title,
            file_type=record.file_type,
            size_bytes=record.size_bytes,
            page_count=record.page_count,
            chunk_count=record.chunk_count,
            status=record.status,
            error=record.error,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )


class CollectionOut(BaseModel):
    id: int
    name: str
    document_count: int
    chunk_count: int
    embedding_model: str | None
    embedding_dim: int | None
    created_at: datetime

    @classmethod
    def of(cls, record: CollectionRecord) -> CollectionOut:
        return cls(
            id=record.id,
            name=record.name,
            document_count=record.document_count,
            chunk_count=record.chunk_count,
            embedding_model=record.embedding_model,
            embedding_dim=record.embedding_dim,
            created_at=record.created_at,
        )


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"\S")


# --- OpenAI-compatible -------------------------------------------------------------------


class OpenAITextPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str | None = None


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_calls, ... are accepted and ignored
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[OpenAITextPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class OpenAIChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # sampling options clients send are ignored
    model: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="`allma:<collection>` answers from that collection; an Ollama model "
        "name answers without documents.",
    )
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=1_000)
    stream: bool = False


class OpenAIAnswer(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = Field(default=None, description="The model's thinking.")


class OpenAIChoice(BaseModel):
    index: int
    message: OpenAIAnswer
    finish_reason: Literal["stop", "length"]


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OpenAIChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[OpenAIChoice]
    usage: OpenAIUsage
    sources: list[SourceOut] = Field(description="Allma extension: the cited passages.")
    conversation_id: int = Field(description="Allma extension: the stored conversation.")


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class OpenAIEmbeddingRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # user, dimensions: accepted and ignored
    model: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="An Ollama embedding model; `allma:*` means the one in Settings.",
    )
    input: EmbeddingText | Annotated[list[EmbeddingText], Field(min_length=1, max_length=2048)] = (
        Field(description="One text or up to 2048 texts.")
    )
    encoding_format: Literal["float", "base64"] = "float"


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="Floats, or base64 of float32 values.")


class OpenAIEmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIEmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIEmbeddingUsage
