"""Request and response models of the local API (they make its OpenAPI document).

Converters from the orchestrator's dataclasses live next to the models they fill,
so a route is one call and one conversion.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from allma_desktop.errors import AllmaError

MAX_TEXT_CHARS = 100_000  # one question or message; far above any model's context
MAX_PATHS = 1_000
MAX_NAME_CHARS = 200

MAX_ID = 2**53 - 1  # exact in JSON numbers everywhere, and within SQLite integers

EmbeddingText = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
RecordId = Annotated[int, Field(ge=1, le=MAX_ID)]


class RecordOut(BaseModel):
    """A response model filled from an engine dataclass's attributes of the same names."""

    model_config = ConfigDict(from_attributes=True)

    @classmethod
    def of(cls, record: object) -> Self:
        return cls.model_validate(record)


# --- errors ---------------------------------------------------------------------


class ErrorDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # filled from an AllmaError inside others

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


class SourceOut(RecordOut):
    """A source (``allma_desktop.sources.Source``) with every field, filled by ``of``."""

    number: int = Field(description="The number the answer cites it by: [number].")
    path: str
    title: str
    page: int | None = Field(description="1-based page; null for documents without pages.")
    score: Annotated[float, AfterValidator(lambda score: round(score, 4))]
    snippet: str = Field(description="The passage, cut for display.")
    document_id: str
    chunk_id: str
    heading_path: list[str] = Field(
        description="The headings above the passage, outermost first; empty if none."
    )
    char_start: int = Field(description="Where the passage starts in the document's text.")
    char_end: int = Field(description="Where it ends (0 and 0: not known).")
    ocr: bool = Field(description="Its page was read by OCR (a scan or a picture).")
    checked_sentences: int | None = Field(
        default=None,
        description="Of an answer's sentences citing this source, how many were checked "
        "against its text (null outside a checked answer).",
    )
    supported_sentences: int | None = Field(
        default=None, description="How many of those the source's text supports."
    )


class SentenceCheckOut(RecordOut):
    start: int = Field(description="Where the sentence starts in the answer (characters).")
    end: int
    text: str
    cited: list[int] = Field(description="The source numbers it was checked against.")
    supported: bool
    missing: list[str] = Field(description="Numbers, names and words not found there.")
    implicit: bool = Field(description="The answer cites nothing: checked against all sources.")


class GroundingOut(RecordOut):
    """An answer checked sentence by sentence against the sources it cites."""

    checked: int = Field(description="Sentences checked (those that cite a source).")
    supported: int = Field(description="Of those, how many their sources support.")
    summary: str = Field(description="E.g. '3 of 4 sentences supported by their sources'.")
    sentences: list[SentenceCheckOut]
    unsupported_numbers: list[str] = Field(description="Numbers of the answer in no source.")


def sources_with_support(sources: list[SourceOut], grounding: object) -> list[SourceOut]:
    """The sources, each with how many of the sentences citing it its text supports."""
    per_source = getattr(grounding, "per_source", None)
    if per_source is None:
        return sources
    counts: dict[int, tuple[int, int]] = per_source()
    return [
        source.model_copy(
            update={
                "supported_sentences": counts.get(source.number, (0, 0))[0],
                "checked_sentences": counts.get(source.number, (0, 0))[1],
            }
        )
        for source in sources
    ]


ContextModeName = Literal["auto", "passages", "whole"]
CONTEXT_MODE_HELP = (
    "What the model reads of the documents: `whole` documents, page by page, when they "
    "fit in its context; the best `passages`; or `auto`: whole when they fit and the "
    "question matches them, else passages."
)


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, description="The question.")
    conversation_id: RecordId | None = Field(
        default=None, description="Continue this conversation; a new one when omitted."
    )
    model: str | None = Field(default=None, min_length=1, max_length=MAX_NAME_CHARS)
    collection_id: RecordId | None = Field(default=None, description="Default: the Library.")
    use_documents: bool | None = Field(default=None, description="Default: true.")
    context_mode: ContextModeName | None = Field(
        default=None,
        description=CONTEXT_MODE_HELP + " Default: the conversation's (a new one: auto); "
        "given, it is kept by a new conversation and holds for this answer in an existing one.",
    )


class ChatResponse(RecordOut):
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
    grounding: GroundingOut | None = Field(
        default=None, description="The answer checked against its sources; null if unchecked."
    )
    whole_documents: list[str] = Field(
        default=[],
        description="Titles of the documents the model read whole, page by page (each page "
        "a source); empty when it read the best passages.",
    )
    summary_parts: int = Field(
        default=0,
        description="The documents were too long to read at once and the question asked for "
        "a summary: how many summaries of their parts (map, then reduce) the answer was made "
        "from. 0: read whole, or from passages.",
    )

    @classmethod
    def of(cls, record: object) -> Self:
        response = cls.model_validate(record)
        return response.model_copy(
            update={
                "sources": sources_with_support(
                    response.sources, getattr(record, "grounding", None)
                )
            }
        )


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    k: int | None = Field(default=None, ge=1, le=50, description="Default: top_k in Settings.")
    collection_id: RecordId | None = None
    document_ids: list[str] | None = Field(default=None, max_length=MAX_PATHS)


class SearchResponse(BaseModel):
    results: list[SourceOut]
    notice: str | None = Field(
        default=None,
        description="Set when the results are keyword matches only (the embedding model "
        "could not be reached), saying why.",
    )


# --- ingest ------------------------------------------------------------------------


class IngestPathsRequest(BaseModel):
    paths: list[str] = Field(
        min_length=1,
        max_length=MAX_PATHS,
        description="Absolute paths of files or folders on this machine.",
    )
    collection_id: RecordId | None = None
    force: bool = Field(default=False, description="Re-index files even when unchanged.")


class FileResultOut(RecordOut):
    path: str
    status: Literal["indexed", "unchanged", "failed", "skipped"]
    reason: str
    document_id: str | None
    chunks: int
    pages: int | None


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


class ModelOut(RecordOut):
    name: str
    size_bytes: int
    family: str | None
    parameter_size: str | None
    modified_at: str | None


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


class HealthSummary(BaseModel):
    """``/health`` without the token: up or down, nothing about this machine."""

    ok: bool
    status: Literal["up", "down"]


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


class ConversationOut(RecordOut):
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None
    collection_id: int | None
    use_documents: bool
    message_count: int
    context_mode: ContextModeName = Field(default="auto", description=CONTEXT_MODE_HELP)


class ConversationUpdate(BaseModel):
    context_mode: ContextModeName = Field(description=CONTEXT_MODE_HELP)


class MessageOut(RecordOut):
    id: int
    role: str
    content: str
    thinking: str
    model: str | None
    status: str
    error: str | None
    created_at: datetime
    sources: list[SourceOut]
    grounding: GroundingOut | None = None
    whole_documents: list[str] = Field(
        default_factory=list,
        description="Titles of the documents the answer was made from, read whole, page by "
        "page (empty: from passages).",
    )
    summary_parts: int = Field(
        default=0,
        description="How many summaries of the documents' parts the answer was made from "
        "(0: read whole, or from passages).",
    )

    @classmethod
    def of(cls, record: object) -> Self:
        response = cls.model_validate(record)
        return response.model_copy(
            update={
                "sources": sources_with_support(
                    response.sources, getattr(record, "grounding", None)
                )
            }
        )


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class DocumentOut(RecordOut):
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


class CollectionOut(RecordOut):
    id: int
    name: str
    document_count: int
    chunk_count: int
    embedding_model: str | None
    embedding_dim: int | None
    created_at: datetime


class CollectionCreate(BaseModel):
    name: str = Field(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"\S")


# --- watched folders --------------------------------------------------------------------


class WatchedFolderOut(BaseModel):
    path: str
    collection_id: int
    state: str = Field(description="watching, scanning, paused or offline (folder not found)")
    pending: int = Field(description="Its files waiting in the indexing queue.")
    ignore: list[str]
    max_file_mb: float | None
    last_sync: datetime | None
    problems: list[str] = Field(description="What its last scan could not read, and why.")


class WatchedFolderCreate(BaseModel):
    path: str = Field(min_length=1, max_length=4096, description="An absolute folder path.")
    collection_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    ignore: list[Annotated[str, Field(max_length=MAX_NAME_CHARS)]] | None = Field(
        default=None, max_length=200, description="Glob patterns left out (default: the usual)."
    )
    max_file_mb: float | None = Field(default=None, gt=0, le=1_000_000)


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
    grounding: GroundingOut | None = Field(
        default=None, description="Allma extension: the answer checked against its sources."
    )


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
