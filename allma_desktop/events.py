"""Typed events the orchestrator streams to the CLI, the GUI and the API.

Plain frozen dataclasses, so every front end consumes the same stream and
nothing here knows about Qt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from allma_desktop.errors import AllmaError
from allma_desktop.records import GroundingReport
from allma_desktop.sources import Source

FileStatus = Literal["indexed", "unchanged", "failed", "skipped"]


# --- ingestion ----------------------------------------------------------------


@dataclass(frozen=True)
class IngestStarted:
    total_files: int
    skipped: int


@dataclass(frozen=True)
class FileStarted:
    path: str
    index: int  # 1-based position in the batch
    total: int


@dataclass(frozen=True)
class FileParsed:
    path: str
    pages: int | None
    chunks: int


@dataclass(frozen=True)
class PageRecognised:
    """OCR is about to read one page of a file (a scan, a picture): reading it takes a
    second or two, so long scans show their progress page by page."""

    path: str
    page: int  # 1-based
    pages: int  # the file's page count


@dataclass(frozen=True)
class EmbedProgress:
    path: str
    chunks_done: int
    chunks_total: int


@dataclass(frozen=True)
class FileFinished:
    path: str
    status: FileStatus
    reason: str = ""
    document_id: str | None = None
    chunks: int = 0
    pages: int | None = None
    error: AllmaError | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "status": self.status,
            "reason": self.reason,
            "document_id": self.document_id,
            "chunks": self.chunks,
            "pages": self.pages,
        }


@dataclass(frozen=True)
class IngestProgress:
    """Overall progress after each file; ``eta_seconds`` is None until it can be estimated."""

    files_done: int
    files_total: int
    chunks_done: int
    eta_seconds: float | None


@dataclass(frozen=True)
class IngestFinished:
    results: tuple[FileFinished, ...]
    cancelled: bool = False
    error: AllmaError | None = None  # a failure that stopped the whole batch (Ollama down)

    def count(self, status: FileStatus) -> int:
        return sum(1 for result in self.results if result.status == status)


IngestEvent = (
    IngestStarted
    | FileStarted
    | PageRecognised
    | FileParsed
    | EmbedProgress
    | FileFinished
    | IngestProgress
    | IngestFinished
)


# --- chat -----------------------------------------------------------------------


@dataclass(frozen=True)
class ChatStarted:
    conversation_id: int
    user_message_id: int
    assistant_message_id: int


@dataclass(frozen=True)
class SourcesFound:
    """The passages given to the model, before it answers; empty when nothing was relevant."""

    sources: tuple[Source, ...]
    whole_documents: tuple[str, ...] = ()  # titles of documents given whole instead of excerpts


@dataclass(frozen=True)
class ThinkingChunk:
    text: str


@dataclass(frozen=True)
class TokenChunk:
    text: str


@dataclass(frozen=True)
class AnswerDone:
    conversation_id: int
    message_id: int
    answer: str
    thinking: str
    sources: tuple[Source, ...]  # only the sources the answer cites
    interrupted: bool = False  # stopped by the user or cut off; the partial answer is kept
    error: AllmaError | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    duration_ms: float | None = None
    model: str = ""
    stats: dict[str, float] = field(default_factory=dict)
    whole_documents: tuple[str, ...] = ()  # titles of documents read whole (``SourcesFound``)
    summary_parts: int = 0  # too long to read at once: summaries asked for (map and reduce)
    # The check against the sources: None on the event itself (the check runs after it,
    # see ``AnswerChecked``); front ends that answer once (CLI, API) fill it in.
    grounding: GroundingReport | None = None


@dataclass(frozen=True)
class AnswerChecked:
    """After ``AnswerDone``: the answer checked sentence by sentence against its sources.

    Not sent when there was nothing to check (no answer, or no sources).
    """

    conversation_id: int
    message_id: int
    grounding: GroundingReport


ChatEvent = ChatStarted | SourcesFound | ThinkingChunk | TokenChunk | AnswerDone | AnswerChecked
