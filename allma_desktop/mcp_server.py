"""The library as an MCP server, for other AI tools (Claude Desktop, VS Code, Cursor, ...).

``create_mcp_server`` builds one server over whatever orchestrator a provider returns,
with the official SDK (``mcp``). ``allma mcp`` runs it over stdio; the local API serves
the same server over streamable HTTP at ``/mcp`` (``api/mcp_http.py``).

Tools: ``search``, ``ask``, ``read_page``, ``list_collections``, ``list_documents``.
Resources: ``allma://document/{id}`` (a document's text) and
``allma://document/{id}/page/{n}`` (one page). Nothing here changes the library; an
``ask`` is kept in the chat history like any question, so the user sees what was asked.

Every call goes through the orchestrator, as the CLI's and the API's do. A failure the
caller can act on (a bad argument, an unknown collection, Ollama down) comes back as a
tool error with the same message and hint the app would show.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field

from allma_desktop import __version__
from allma_desktop.api.ingest_sources import allowed_files
from allma_desktop.errors import AllmaError, NotFound
from allma_desktop.events import AnswerChecked, AnswerDone, FileFinished, IngestFinished
from allma_desktop.sources import Source

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import CollectionRecord, DocumentRecord, GroundingReport

log = logging.getLogger(__name__)

OrchestratorProvider = Callable[[], "Orchestrator | None"]

SERVER_NAME = "allma"
RESOURCE_SCHEME = "allma://document/"
MAX_QUERY_CHARS = 4000
INSTRUCTIONS = (
    "Allma is the user's own document library (PDFs, Word files, notes), indexed on their "
    "machine. Use `search` to find passages with file and page, `ask` for an answer with "
    "numbered citations from a local model, and `read_page` to read a whole page around a "
    "passage. Cite the file and page you used."
)
_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)


# --- Results ---------------------------------------------------------------------------


class Passage(BaseModel):
    """A passage of a document, with where it comes from."""

    number: int = Field(description="Its number: an answer cites it as [number].")
    file: str = Field(description="Path of the document on the user's machine.")
    title: str
    page: int | None = Field(description="1-based page; null for documents without pages.")
    score: float = Field(description="Relevance to the query, higher is better.")
    text: str
    document_id: str
    resource: str = Field(description="URI of the page (or document) for resources/read.")
    chunk_id: str
    heading_path: list[str] = Field(
        description="The headings above the passage, outermost first; empty if none."
    )
    char_start: int = Field(description="Where the passage starts in the document's text.")
    char_end: int = Field(description="Where it ends (0 and 0: not known).")
    ocr: bool = Field(description="Its page was read by OCR (a scan or a picture).")

    @classmethod
    def of(cls, source: Source, texts: dict[str, str]) -> Passage:
        """Every field of ``source``: its path as ``file``; as ``text``, its whole passage
        from ``texts`` (by chunk id), else its snippet."""
        fields = source.as_dict()
        fields["file"] = fields.pop("path")
        fields["text"] = texts.get(source.chunk_id, fields.pop("snippet"))
        fields["resource"] = _resource_uri(source.document_id, source.page)
        return cls.model_validate(fields)


class SearchResult(BaseModel):
    collection: str
    passages: list[Passage] = Field(description="Best first; empty when nothing matched.")


class SentenceCheck(BaseModel):
    text: str
    cited: list[int]
    supported: bool = Field(description="Whether the cited passage holds what it says.")
    missing: list[str] = Field(description="Numbers, names and words not found there.")


class Grounding(BaseModel):
    summary: str = Field(description="e.g. '3 of 4 sentences supported by their sources'.")
    checked: int
    supported: int
    sentences: list[SentenceCheck]
    unsupported_numbers: list[str] = Field(description="Numbers in no source.")


class AskResult(BaseModel):
    answer: str = Field(description="The answer; [n] refers to citations[n-1].number == n.")
    citations: list[Passage] = Field(description="Only the passages the answer cites.")
    model: str
    complete: bool = Field(description="False when the answer was cut off.")
    conversation_id: int = Field(description="The chat in Allma's history holding this answer.")
    grounding: Grounding | None = Field(
        default=None, description="Each sentence checked against its cited passage."
    )


class PageText(BaseModel):
    document_id: str
    file: str
    title: str
    page: int
    page_count: int
    text: str


class AddedFile(BaseModel):
    file: str
    status: str = Field(description="indexed, unchanged, skipped or failed.")
    reason: str | None = None
    document_id: str | None = None


class AddResult(BaseModel):
    collection: str
    files: list[AddedFile]


class CollectionInfo(BaseModel):
    id: int
    name: str
    documents: int = Field(description="Documents ready to search.")
    chunks: int
    embedding_model: str | None


class DocumentInfo(BaseModel):
    id: str
    file: str
    title: str
    collection: str
    file_type: str
    pages: int | None
    chunks: int
    status: str = Field(description="ready, indexing, queued or failed.")
    error: str | None = None
    resource: str


# --- The server ---------------------------------------------------------------------------


def create_mcp_server(
    orchestrator_provider: OrchestratorProvider,
    on_change: Callable[[str], None] | None = None,
    add_roots: Sequence[Path] = (),
) -> MCPServer:
    """The MCP server over the orchestrator that ``orchestrator_provider`` returns per call.

    The provider may return None while the app is still opening the library.
    ``on_change("conversations")`` is called after an ``ask`` stored its answer, so the
    app's sidebar shows it. With ``add_roots`` (folders the user allowed, ``allma mcp
    --allow-add``), an ``add_files`` tool indexes files from inside them; without, the
    server cannot change the library.
    """
    server = MCPServer(
        SERVER_NAME,
        title="Allma Desktop library",
        instructions=INSTRUCTIONS,
        version=__version__,
    )

    def opened_orchestrator() -> Orchestrator:
        orchestrator = orchestrator_provider()
        if orchestrator is None:
            raise ToolError(
                "Allma's library is not open yet. Wait a moment and try again; if it "
                "persists, check Allma's status bar."
            )
        return orchestrator

    @server.tool(annotations=_READ_ONLY)
    async def search(
        query: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)],
        collection: Annotated[
            str | None, Field(description="Collection name (default: the Library).")
        ] = None,
        k: Annotated[int, Field(ge=1, le=50, description="How many passages.")] = 5,
    ) -> SearchResult:
        """Search the user's documents; passages best first, each with file, page and score."""
        with _tool_errors():
            orchestrator = opened_orchestrator()
            record = await asyncio.to_thread(_collection, orchestrator, collection)
            sources = await orchestrator.search(_text(query, "query"), record.id, k)
            texts = await orchestrator.source_texts(sources)
            return SearchResult(
                collection=record.name, passages=[Passage.of(s, texts) for s in sources]
            )

    # Not read-only: the question and its answer are kept in Allma's chat history.
    @server.tool(annotations=ToolAnnotations(destructive_hint=False, open_world_hint=False))
    async def ask(
        question: Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)],
        collection: Annotated[
            str | None, Field(description="Collection name (default: the Library).")
        ] = None,
    ) -> AskResult:
        """Answer a question from the user's documents with the local model, citing [n].

        Slower than `search` (a model writes the answer); the citations carry file and page.
        """
        with _tool_errors():
            orchestrator = opened_orchestrator()
            record = await asyncio.to_thread(_collection, orchestrator, collection)
            done: AnswerDone | None = None
            report: GroundingReport | None = None
            events = orchestrator.chat(
                None, _text(question, "question"), collection_id=record.id, use_documents=True
            )
            async for event in events:
                if isinstance(event, AnswerDone):
                    done = event
                elif isinstance(event, AnswerChecked):
                    report = event.grounding
            if on_change is not None:
                on_change("conversations")
            if done is None:  # pragma: no cover - chat always ends with AnswerDone
                raise ToolError("Allma's answer ended without a result. Try again.")
            if done.error is not None and not done.answer:
                raise done.error
            texts = await orchestrator.source_texts(done.sources)
            return AskResult(
                answer=done.answer,
                citations=[Passage.of(s, texts) for s in done.sources],
                model=done.model,
                complete=not done.interrupted,
                conversation_id=done.conversation_id,
                grounding=_grounding(report or done.grounding),
            )

    @server.tool(annotations=_READ_ONLY)
    async def read_page(
        document: Annotated[
            str,
            Field(min_length=1, description="A document's id, path or file name."),
        ],
        page: Annotated[int, Field(ge=1, description="1-based page number.")] = 1,
    ) -> PageText:
        """The whole text of one page of a document (a document without pages is page 1)."""
        with _tool_errors():
            orchestrator = opened_orchestrator()
            record = await asyncio.to_thread(_document, orchestrator, document)
            return await _page(orchestrator, record, page)

    @server.tool(annotations=_READ_ONLY)
    async def list_collections() -> list[CollectionInfo]:
        """The user's collections of documents, with how many documents each holds."""
        with _tool_errors():
            return [_collection_info(c) for c in opened_orchestrator().collections()]

    @server.tool(annotations=_READ_ONLY)
    async def list_documents(
        collection: Annotated[
            str | None, Field(description="Collection name (default: every collection).")
        ] = None,
    ) -> list[DocumentInfo]:
        """The documents in the library (or one collection), with id, file, pages and status."""
        with _tool_errors():
            orchestrator = opened_orchestrator()
            collections = await asyncio.to_thread(orchestrator.collections)
            names = {c.id: c.name for c in collections}
            collection_id = (
                None
                if collection is None
                else (await asyncio.to_thread(_collection, orchestrator, collection)).id
            )
            documents = await asyncio.to_thread(orchestrator.list_documents, collection_id)
            return [_document_info(d, names.get(d.collection_id, "")) for d in documents]

    @server.resource(
        RESOURCE_SCHEME + "{document_id}",
        name="document",
        description="The stored text of one document of the library.",
        mime_type="text/plain",
    )
    async def document_resource(document_id: str) -> str:
        with _resource_errors():
            orchestrator = engine_for_resource()
            record = await asyncio.to_thread(orchestrator.document, document_id)
            return await orchestrator.document_text(record.id)

    @server.resource(
        RESOURCE_SCHEME + "{document_id}/page/{page}",
        name="document page",
        description="The stored text of one page of a document (1-based).",
        mime_type="text/plain",
    )
    async def page_resource(document_id: str, page: str) -> str:
        with _resource_errors():
            if not page.isdigit() or int(page) < 1:
                raise ResourceError(f"'{page}' is not a page number: pages count from 1.")
            orchestrator = engine_for_resource()
            record = await asyncio.to_thread(orchestrator.document, document_id)
            return (await _page(orchestrator, record, int(page))).text

    if add_roots:
        roots = tuple(add_roots)
        allowed = ", ".join(str(root) for root in roots)

        @server.tool(
            annotations=ToolAnnotations(destructive_hint=False, open_world_hint=False),
            description=(
                "Add files (or folders of files) to the user's library so they can be "
                f"searched. Only paths inside these folders are allowed: {allowed}."
            ),
        )
        async def add_files(
            paths: Annotated[
                list[str],
                Field(min_length=1, max_length=100, description="Absolute paths."),
            ],
            collection: Annotated[
                str | None, Field(description="Collection name (default: the Library).")
            ] = None,
        ) -> AddResult:
            with _tool_errors():
                orchestrator = opened_orchestrator()
                record = await asyncio.to_thread(_collection, orchestrator, collection)
                files = await asyncio.to_thread(allowed_files, paths, roots)
                if not files:
                    raise ToolError("Those folders hold no files to add.")
                results: list[FileFinished] = []
                async for event in orchestrator.ingest(files, record.id):
                    if isinstance(event, FileFinished):
                        results.append(event)
                    elif isinstance(event, IngestFinished) and event.error is not None:
                        raise event.error
                if on_change is not None:
                    on_change("documents")
                return AddResult(
                    collection=record.name,
                    files=[
                        AddedFile(
                            file=r.path,
                            status=r.status,
                            reason=r.reason or None,
                            document_id=r.document_id,
                        )
                        for r in results
                    ],
                )

    def engine_for_resource() -> Orchestrator:
        orchestrator = orchestrator_provider()
        if orchestrator is None:
            raise ResourceError("Allma's library is not open yet; try again in a moment.")
        return orchestrator

    return server


# --- Helpers --------------------------------------------------------------------------------


@contextlib.contextmanager
def _tool_errors() -> Iterator[None]:
    """Turn an AllmaError into a tool error carrying its message and next step."""
    try:
        yield
    except AllmaError as error:
        raise ToolError(str(error)) from error


@contextlib.contextmanager
def _resource_errors() -> Iterator[None]:
    try:
        yield
    except AllmaError as error:
        raise ResourceError(str(error)) from error


def _text(value: str, name: str) -> str:
    text = value.strip()
    if not text:
        raise ToolError(f"The {name} is empty: say what to look for.")
    return text


def _collection(orchestrator: Orchestrator, name: str | None) -> CollectionRecord:
    """The collection named ``name`` (case-insensitive, or its id), the Library when None."""
    if name is None or not name.strip():
        return orchestrator.collection(None)
    wanted = name.strip()
    collections = orchestrator.collections()
    for record in collections:
        if record.name.casefold() == wanted.casefold() or str(record.id) == wanted:
            return record
    known = ", ".join(f"'{c.name}'" for c in collections)
    raise ToolError(f"There is no collection named '{wanted}'. The collections are: {known}.")


def _document(orchestrator: Orchestrator, wanted: str) -> DocumentRecord:
    """A document by id, full path or file name (case-insensitive)."""
    wanted = wanted.strip()
    try:
        return orchestrator.document(wanted)
    except NotFound:
        pass
    documents = orchestrator.list_documents()
    matches = [d for d in documents if d.path == wanted]
    if not matches:
        name = wanted.replace("\\", "/").rsplit("/", 1)[-1].casefold()
        matches = [
            d for d in documents if d.path.replace("\\", "/").rsplit("/", 1)[-1].casefold() == name
        ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        choices = "; ".join(f"{d.id} ({d.path})" for d in matches)
        raise ToolError(
            f"Several documents are named '{wanted}'; give one of their ids: {choices}."
        )
    raise ToolError(
        f"No document '{wanted}' is in the library. Use list_documents to see ids and files."
    )


async def _page(orchestrator: Orchestrator, record: DocumentRecord, page: int) -> PageText:
    pages = record.page_count or 1
    if page > pages:
        raise ToolError(
            f"{_name(record)} has {pages} page{'s' if pages != 1 else ''}; "
            f"page {page} is not one of them."
        )
    if record.status != "ready":
        raise ToolError(f"{_name(record)} is not searchable yet (it is {record.status}).")
    text = await orchestrator.document_text(record.id, page)
    return PageText(
        document_id=record.id,
        file=record.path,
        title=record.title,
        page=page,
        page_count=pages,
        text=text,
    )


def _name(record: DocumentRecord) -> str:
    return record.path.replace("\\", "/").rsplit("/", 1)[-1]


def _resource_uri(document_id: str, page: int | None) -> str:
    uri = RESOURCE_SCHEME + document_id
    return f"{uri}/page/{page}" if page is not None else uri


def _grounding(report: GroundingReport | None) -> Grounding | None:
    if report is None:
        return None
    return Grounding(
        summary=report.summary,
        checked=report.checked,
        supported=report.supported,
        sentences=[
            SentenceCheck(
                text=s.text, cited=list(s.cited), supported=s.supported, missing=list(s.missing)
            )
            for s in report.sentences
        ],
        unsupported_numbers=list(report.unsupported_numbers),
    )


def _collection_info(record: CollectionRecord) -> CollectionInfo:
    return CollectionInfo(
        id=record.id,
        name=record.name,
        documents=record.document_count,
        chunks=record.chunk_count,
        embedding_model=record.embedding_model,
    )


def _document_info(record: DocumentRecord, collection: str) -> DocumentInfo:
    return DocumentInfo(
        id=record.id,
        file=record.path,
        title=record.title,
        collection=collection,
        file_type=record.file_type,
        pages=record.page_count,
        chunks=record.chunk_count,
        status=record.status,
        error=record.error,
        resource=_resource_uri(record.id, None),
    )


async def serve_stdio(orchestrator: Orchestrator, add_roots: Sequence[Path] = ()) -> None:
    """Serve ``orchestrator``'s library over stdin/stdout until the client closes the pipe."""
    server = create_mcp_server(lambda: orchestrator, add_roots=add_roots)
    log.info("MCP server on stdio")
    await server.run_stdio_async()
