"""Embedding one document's chunks outside the batch pipeline.

The orchestrator's move (to another collection) and re-embed (with a new model)
operations already have the chunks; they need only the embed-then-store half, one
batch in flight at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from allma_desktop.cancel import CancelToken
from allma_desktop.ingest.embed import check_embedding_dimension
from allma_desktop.services.documents.chunking import prefix_for_embedding
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.retrieval.rag import embedding_document_text

if TYPE_CHECKING:
    from allma_desktop.ingest.orchestrator_view import OrchestratorView
    from allma_desktop.records import CollectionRecord


async def embed_and_store(
    orchestrator: OrchestratorView,
    chunks: Sequence[Chunk],
    collection: CollectionRecord,
    cancel: CancelToken,
    stored: list[str],
    dimensions: list[int] | None = None,
    model: str | None = None,
) -> AsyncIterator[int]:
    """Embed one document's chunks in batches and store each batch while the next is
    embedded (moving and re-embedding documents); yields the chunks done so far.

    ``stored`` collects the ids handed to the store, so a caller can take them back
    out if the document fails later. Only one batch of vectors is held at a time.
    With ``dimensions`` given, the vector size is appended there instead of being
    checked against (and recorded on) the collection. ``model``: the embedding model
    (default: the configured one; rebuilding vectors uses the collection's own).
    """
    model = model or orchestrator.config.ollama_embedding_model
    size = orchestrator.config.embed_batch_size
    storing: asyncio.Future[None] | None = None
    try:
        for start in range(0, len(chunks), size):
            if cancel.cancelled:
                return
            batch = chunks[start : start + size]
            texts = [embedding_document_text(model, prefix_for_embedding(c)) for c in batch]
            vectors = await orchestrator.llm.embed(model, texts)
            if start == 0 and dimensions is not None:
                dimensions.append(len(vectors[0]) if vectors else 0)
            elif start == 0:
                await check_embedding_dimension(orchestrator, collection, vectors)
            if storing is not None:
                await storing
            stored.extend(c.chunk_id for c in batch)
            storing = asyncio.ensure_future(
                asyncio.to_thread(orchestrator.store.add, collection.key, batch, vectors)
            )
            yield start + len(batch)
        if storing is not None:
            await storing
            storing = None
    finally:
        if storing is not None and not storing.done():
            # Let an in-flight write finish before anyone deletes what it wrote.
            await asyncio.gather(storing, return_exceptions=True)
