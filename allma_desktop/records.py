"""The records every front end shares: plain frozen dataclasses, no behaviour beyond
reading them.

The bottom of the package, beside ``events.py``: the services build these and the
orchestrator returns them, so the GUI, the CLI, the local API and the MCP server hold
the same values without importing a service. Nothing here imports a service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allma_desktop.errors import AllmaError
from allma_desktop.library_counts import DocumentCounts
from allma_desktop.sources import Source

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig

# --- the library: collections and documents ---------------------------------------


@dataclass(frozen=True)
class CollectionRecord:
    id: int
    key: str  # the vector store's name for it
    name: str  # the user's name for it
    created_at: datetime
    embedding_model: str | None
    embedding_dim: int | None
    document_count: int  # searchable documents, as library_counts.count_documents counts
    chunk_count: int  # every stored chunk (the vectors a re-embed goes through)
    failed_count: int = 0  # files that could not be read, counted apart
    cancelled_count: int = 0  # files stopped by Cancel, counted apart
    passage_count: int = 0  # the documents' chunks: what questions are answered from

    @property
    def counts(self) -> DocumentCounts:
        return DocumentCounts(
            documents=self.document_count,
            passages=self.passage_count,
            failed=self.failed_count,
            cancelled=self.cancelled_count,
        )


@dataclass(frozen=True)
class DocumentRecord:
    id: str
    collection_id: int
    collection_key: str
    path: str
    title: str
    author: str | None
    file_type: str
    content_hash: str
    size_bytes: int
    mtime: float
    page_count: int | None
    chunk_count: int
    status: str
    error: str | None
    created_at: datetime
    updated_at: datetime


# --- conversations ----------------------------------------------------------------


class ContextMode(StrEnum):
    """What a conversation gives the model from its documents, chosen per conversation.

    ``AUTO``: the whole documents, page by page, when they all fit in the model's
    context (with room for the answer), else the best passages; ``PASSAGES``: always
    the best passages; ``WHOLE``: the whole documents, and the best passages with a
    notice when they do not fit.
    """

    AUTO = "auto"
    PASSAGES = "passages"
    WHOLE = "whole"


@dataclass(frozen=True)
class ConversationRecord:
    id: int
    title: str
    created_at: datetime
    updated_at: datetime
    model: str | None
    collection_id: int | None
    use_documents: bool
    message_count: int
    context_mode: ContextMode = ContextMode.AUTO


@dataclass(frozen=True)
class MessageRecord:
    id: int
    conversation_id: int
    role: str
    content: str
    thinking: str
    model: str | None
    status: str
    error: str | None
    created_at: datetime
    prompt_tokens: int | None
    completion_tokens: int | None
    duration_ms: float | None
    sources: tuple[Source, ...] = ()
    grounding: GroundingReport | None = None  # the answer checked against its sources
    whole_documents: tuple[str, ...] = ()  # titles of the documents read whole for it
    summary_parts: int = 0  # too long to read at once: summaries asked for (map and reduce)


def whole_documents_note(titles: Sequence[str], summary_parts: int = 0) -> str:
    """The line under an answer made from whole documents rather than passages (read
    whole, or summarised in parts): the same live, reopened, exported and in the CLI."""
    if summary_parts:
        parts = f"{summary_parts} part{'s' if summary_parts != 1 else ''}"
        return f"Summarised in {parts}, page by page: {', '.join(titles)}"
    return f"Read whole, page by page: {', '.join(titles)}"


@dataclass(frozen=True)
class ContextFit:
    """How much of a model's context a collection's documents take, read whole.

    Estimated as the chat estimates it when it decides whether to read them whole
    (``Orchestrator.context_fit``): about four characters a token, page headers included.
    """

    tokens: int  # about what the documents take in the prompt
    room: int  # what the model's context leaves them (instructions, history, answer aside)
    context_tokens: int  # the model's context, as the chat sends it (``num_ctx``)
    fits: bool  # read whole in Whole document mode (and in Auto, but for a small model)
    exact: bool  # counted page by page; else from the stored text's length, roughly
    summary_requests: int  # too long: about how many summaries a "summarise" question takes
    summary_limit: int  # the most one answer may ask for
    small_model: bool  # Auto gives such a model passages all the same
    documents: int  # ready documents in the collection

    @property
    def share(self) -> float:
        """The documents' tokens over the room for them (over 1: they do not fit)."""
        return self.tokens / self.room if self.room > 0 else float("inf")

    @property
    def summarisable(self) -> bool:
        return not self.fits and 0 < self.summary_requests <= self.summary_limit


# --- an answer checked against its sources ----------------------------------------


REPORT_VERSION = 1


@dataclass(frozen=True)
class SentenceCheck:
    """One sentence of an answer and whether its cited passage holds what it says."""

    start: int  # offsets in the answer text
    end: int
    text: str
    cited: tuple[int, ...]  # the source numbers it was checked against
    supported: bool
    missing: tuple[str, ...] = ()  # numbers, names and words not found there
    implicit: bool = False  # the answer cites nothing: checked against all its sources
    # Its embedding's best cosine with a sentence of the cited passage, when the words
    # alone did not settle it (``retrieval/grounding.py``, ``Closeness``); None otherwise.
    closeness: float | None = None
    # Supported by that closeness: the words were missing, the meaning was there.
    close_in_meaning: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "cited": list(self.cited),
            "supported": self.supported,
            "missing": list(self.missing),
            "implicit": self.implicit,
            "closeness": self.closeness,
            "close_in_meaning": self.close_in_meaning,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SentenceCheck:
        return cls(
            start=int(data["start"]),
            end=int(data["end"]),
            text=str(data["text"]),
            cited=tuple(int(n) for n in data.get("cited", ())),
            supported=bool(data["supported"]),
            missing=tuple(str(m) for m in data.get("missing", ())),
            implicit=bool(data.get("implicit", False)),
            closeness=None if data.get("closeness") is None else float(data["closeness"]),
            close_in_meaning=bool(data.get("close_in_meaning", False)),
        )

    @property
    def note(self) -> str:
        """What a tooltip says about this sentence."""
        where = (
            "its sources" if self.implicit or len(self.cited) != 1 else f"source [{self.cited[0]}]"
        )
        if self.supported and self.close_in_meaning:
            return f"Close in meaning to {where}, in other words."
        if self.supported:
            return f"Supported by {where}."
        found = ", ".join(f"“{m}”" for m in self.missing[:6])
        return f"Not found in {where}: {found}." if found else f"Not supported by {where}."


@dataclass(frozen=True)
class GroundingReport:
    """The result of checking an answer: each checked sentence, and invented numbers."""

    sentences: tuple[SentenceCheck, ...] = ()
    unsupported_numbers: tuple[str, ...] = ()  # as written in the answer, in order
    version: int = REPORT_VERSION

    @property
    def checked(self) -> int:
        return len(self.sentences)

    @property
    def supported(self) -> int:
        return sum(1 for sentence in self.sentences if sentence.supported)

    @property
    def unsupported(self) -> tuple[SentenceCheck, ...]:
        return tuple(sentence for sentence in self.sentences if not sentence.supported)

    @property
    def summary(self) -> str:
        """``3 of 4 sentences supported by their sources`` (empty when nothing was checked)."""
        if not self.checked:
            return ""
        noun = "sentence" if self.checked == 1 else "sentences"
        text = f"{self.supported} of {self.checked} {noun} supported by their sources"
        if self.unsupported_numbers:
            numbers = ", ".join(self.unsupported_numbers[:5])
            text += f"; not in any source: {numbers}"
        return text

    def per_source(self) -> dict[int, tuple[int, int]]:
        """For each source number: (sentences citing it that are supported, sentences citing it)."""
        counts: dict[int, list[int]] = {}
        for sentence in self.sentences:
            for number in sentence.cited:
                entry = counts.setdefault(number, [0, 0])
                entry[1] += 1
                entry[0] += int(sentence.supported)
        return {number: (done, total) for number, (done, total) in counts.items()}

    def as_dict(self) -> dict[str, object]:
        return {
            "version": self.version,
            "checked": self.checked,
            "supported": self.supported,
            "summary": self.summary,
            "sentences": [sentence.as_dict() for sentence in self.sentences],
            "unsupported_numbers": list(self.unsupported_numbers),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GroundingReport:
        return cls(
            sentences=tuple(SentenceCheck.from_dict(s) for s in data.get("sentences", ())),
            unsupported_numbers=tuple(str(n) for n in data.get("unsupported_numbers", ())),
            version=int(data.get("version", REPORT_VERSION)),
        )


# --- models and the model server --------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    name: str
    size_bytes: int
    family: str | None
    parameter_size: str | None
    modified_at: str | None  # ISO 8601
    # What Ollama says the model can do (/api/show): "completion", "embedding", "thinking",
    # "tools", ...; guessed from the name for servers too old to say (see model_capabilities).
    capabilities: tuple[str, ...] = ()

    @property
    def can_chat(self) -> bool:
        return "completion" in self.capabilities

    @property
    def can_embed(self) -> bool:
        return "embedding" in self.capabilities


@dataclass(frozen=True)
class ModelDetails:
    name: str
    capabilities: tuple[str, ...]
    context_length: int | None
    family: str | None
    parameter_size: str | None = None  # as Ollama reports it: "135M", "7.6B"

    @property
    def supports_thinking(self) -> bool:
        return "thinking" in self.capabilities

    @property
    def is_embedding(self) -> bool:
        return "embedding" in self.capabilities


@dataclass(frozen=True)
class PullProgress:
    status: str
    completed: int | None
    total: int | None

    @property
    def fraction(self) -> float | None:
        """Share of the current layer downloaded, 0..1, when Ollama says."""
        if not self.total or self.completed is None:
            return None
        return min(1.0, max(0.0, self.completed / self.total))


# --- OCR languages ---------------------------------------------------------------


@dataclass(frozen=True)
class OcrLanguage:
    """A language OCR can read, and where its Tesseract data (``<code>.traineddata``) is."""

    code: str  # Tesseract's code: "eng", "deu", "chi_sim"
    name: str  # "English", "German" (the code itself when not known)
    folder: Path
    added: bool  # in the app's own folder (added in Settings), not installed with the app

    @property
    def label(self) -> str:
        return self.name if self.name == self.code else f"{self.name} ({self.code})"


@dataclass(frozen=True)
class OllamaHealth:
    host: str
    reachable: bool
    version: str | None
    models: tuple[str, ...]
    chat_model: str
    chat_model_present: bool
    embedding_model: str
    embedding_model_present: bool
    error: AllmaError | None
    server: str = "Ollama"  # what answers, as the status bar names it
    # The installed models that can chat, and those that can make embeddings.
    chat_models: tuple[str, ...] = ()
    embedding_models: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.reachable
            and self.chat_model_present
            and self.embedding_model_present
            and self.error is None
        )


@dataclass(frozen=True)
class HealthReport:
    ollama: OllamaHealth
    store_path: str
    store_writable: bool  # the data folder, the database and the vector store all took a write
    store_error: AllmaError | None  # the data folder's (a probe file, the free space)
    documents: int  # searchable ones: library_counts, the library's one definition
    chunks: int  # the documents' passages
    collections: int
    failed: int = 0  # files that could not be read, counted apart
    database_error: AllmaError | None = None  # a real commit to the database failed
    vectors_error: AllmaError | None = None  # a real write to the vector store failed
    cancelled: int = 0  # files stopped by Cancel, counted apart

    @property
    def document_counts(self) -> DocumentCounts:
        return DocumentCounts(
            documents=self.documents,
            passages=self.chunks,
            failed=self.failed,
            cancelled=self.cancelled,
        )

    @property
    def ok(self) -> bool:
        return self.ollama.ok and self.store_writable

    def problems(self) -> list[AllmaError]:
        errors = (self.ollama.error, self.store_error, self.database_error, self.vectors_error)
        found: list[AllmaError] = []
        for error in errors:
            if error is not None and str(error) not in {str(e) for e in found}:
                found.append(error)
        return found

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "ollama": {
                "host": self.ollama.host,
                "reachable": self.ollama.reachable,
                "version": self.ollama.version,
                "chat_model": self.ollama.chat_model,
                "chat_model_present": self.ollama.chat_model_present,
                "embedding_model": self.ollama.embedding_model,
                "embedding_model_present": self.ollama.embedding_model_present,
                "models": list(self.ollama.models),
            },
            "store": {
                "path": self.store_path,
                "writable": self.store_writable,
                "database_writable": self.database_error is None,
                "vectors_writable": self.vectors_error is None,
            },
            "documents": self.documents,
            "failed_documents": self.failed,
            "cancelled_documents": self.cancelled,
            "chunks": self.chunks,
            "collections": self.collections,
            "problems": [
                {"code": e.code, "message": e.message, "hint": e.hint} for e in self.problems()
            ],
        }


# --- upkeep: doctor, backups, moving the vector store -----------------------------


@dataclass(frozen=True)
class Problem:
    """One thing found wrong, in plain words; ``repaired`` once it has been put right."""

    kind: str  # a stable label for scripts, e.g. "orphan_vectors"
    description: str
    repaired: bool = False
    count: int = 1

    def as_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "description": self.description,
            "count": self.count,
            "repaired": self.repaired,
        }


@dataclass(frozen=True)
class DoctorReport:
    problems: tuple[Problem, ...] = ()
    checked: tuple[str, ...] = field(default=())  # what was looked at, for the summary

    @property
    def ok(self) -> bool:
        """True when nothing is left to repair (problems found and repaired are fine)."""
        return not self.remaining

    @property
    def repaired(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if problem.repaired)

    @property
    def remaining(self) -> tuple[Problem, ...]:
        return tuple(problem for problem in self.problems if not problem.repaired)

    def merged(self, other: DoctorReport) -> DoctorReport:
        return DoctorReport(self.problems + other.problems, self.checked + other.checked)

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "checked": list(self.checked),
            "problems": [problem.as_dict() for problem in self.problems],
        }


BACKUP_FORMAT = "allma-desktop-backup"


BACKUP_FORMAT_VERSION = 1


@dataclass(frozen=True)
class BackupManifest:
    app_version: str
    schema_version: int
    created_at: str  # ISO 8601, UTC
    collections: int
    documents: int
    chunks: int
    conversations: int
    messages: int
    files: dict[str, str]  # name in the archive -> SHA-256 hex
    format: str = BACKUP_FORMAT
    format_version: int = BACKUP_FORMAT_VERSION
    vector_store: str = "chroma"  # the backend whose vectors the archive holds

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BackupManifest:
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
        return cls(
            app_version=str(data["app_version"]),
            schema_version=int(data["schema_version"]),
            created_at=str(data["created_at"]),
            collections=int(data["collections"]),
            documents=int(data["documents"]),
            chunks=int(data["chunks"]),
            conversations=int(data["conversations"]),
            messages=int(data["messages"]),
            files={str(name): str(digest) for name, digest in files.items()},
            format=str(data["format"]),
            format_version=int(data["format_version"]),
            # Archives made before other backends existed hold Chroma's folder.
            vector_store=str(data.get("vector_store", "chroma")),
        )


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: BackupManifest
    size_bytes: int


@dataclass(frozen=True)
class RestoreResult:
    manifest: BackupManifest
    data_dir: Path
    previous_data: Path | None  # where the data that was replaced now lives
    previous_vectors: Path | None  # set only when the vectors live outside the data folder
    vector_store: str = "chroma"  # the backend the restored vectors belong to

    def switches_vector_store(self, config: AppConfig) -> bool:
        """Whether ``config`` must name the backup's vector store to find its vectors."""
        return self.vector_store != config.vector_store


@dataclass(frozen=True)
class DatabaseRestored:
    database: Path
    previous: Path | None  # where the replaced (damaged) file now lives
    documents: int
    conversations: int


@dataclass(frozen=True)
class MigrationProgress:
    collection: str
    copied: int  # chunks of this collection now in the target
    total: int
    library_copied: int = 0  # chunks of every collection now in the target
    library_total: int = 0


@dataclass(frozen=True)
class CollectionCopy:
    key: str
    source_count: int
    target_count: int
    already_there: int  # chunks skipped because an earlier run copied them
    queries_compared: int


@dataclass(frozen=True)
class MigrationReport:
    collections: list[CollectionCopy]

    @property
    def chunks(self) -> int:
        return sum(copy.target_count for copy in self.collections)


@dataclass(frozen=True)
class Box:
    """A rectangle on a page, in PDF points from the top left."""

    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, other: Box, tolerance: float = 0.5) -> bool:
        return (
            self.x0 - tolerance <= other.x0
            and self.y0 - tolerance <= other.y0
            and other.x1 <= self.x1 + tolerance
            and other.y1 <= self.y1 + tolerance
        )
