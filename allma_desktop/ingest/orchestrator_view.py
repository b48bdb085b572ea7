"""What the ingest stages need of the orchestrator, as a protocol.

A module of its own so that every stage can name it without importing the pipeline
(which imports the stages).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from allma_desktop.config import AppConfig
    from allma_desktop.records import CollectionRecord
    from allma_desktop.services.documents.parse_worker import ParseWorker
    from allma_desktop.services.documents.service import DocumentService
    from allma_desktop.services.library.catalog import LibraryService
    from allma_desktop.services.model_server.ollama import LLMService
    from allma_desktop.services.vectorstore.base import VectorStore


class OrchestratorView(Protocol):
    """What the pipeline needs of the orchestrator (its services, opened)."""

    config: AppConfig
    documents: DocumentService
    parse_worker: ParseWorker
    llm: LLMService

    @property
    def library(self) -> LibraryService: ...

    @property
    def store(self) -> VectorStore: ...

    def collection(self, collection_id: int | None) -> CollectionRecord: ...
