"""The consistency rules of docs/ARCHITECTURE.md as one assertion other tests can reuse.

Call it when no ingestion or answer is running (after the startup repair).
"""

from __future__ import annotations

from itertools import pairwise

from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.library.storage import ChunkText, Document, tuple_rows


def assert_library_consistent(orchestrator: Orchestrator) -> None:
    """Nothing half-done is visible, and SQLite and the vector store agree.

    * no document is left queued/indexing and no answer is left streaming;
    * every vector belongs to a document row, and every chunk text too;
    * a ready document has exactly ``chunk_count`` chunk texts, and exactly those
      chunks as vectors (no missing one, no stale one of an older version);
    * every question has its answer message right after it.
    """
    library, store = orchestrator.library, orchestrator.store
    documents = library.list_documents()
    stuck = [(d.path, d.status) for d in documents if d.status in ("queued", "indexing")]
    assert not stuck, f"documents left in progress: {stuck}"

    known_ids = {document.id for document in documents}
    stray_texts = {
        document_id
        for (document_id,) in tuple_rows(ChunkText.select(ChunkText.document_id).distinct())
    } - known_ids
    assert not stray_texts, f"chunk texts of documents that do not exist: {stray_texts}"
    stored_documents = {str(i) for (i,) in tuple_rows(Document.select(Document.id))}
    assert stored_documents == known_ids

    for collection in library.list_collections():
        vectors = store.chunk_ids(collection.key)
        owned: set[str] = set()
        for document in (d for d in documents if d.collection_id == collection.id):
            document_vectors = store.chunk_ids(collection.key, document.id)
            owned |= document_vectors
            if document.status != "ready":
                continue
            texts = library.document_chunk_ids(document.id)
            assert len(texts) == document.chunk_count, (
                f"{document.path} is ready with {len(texts)} chunk texts, "
                f"not {document.chunk_count}"
            )
            assert document_vectors == texts, (
                f"{document.path} is ready but its vectors differ from its chunks: "
                f"missing {sorted(texts - document_vectors)[:3]}, "
                f"extra {sorted(document_vectors - texts)[:3]}"
            )
        orphans = vectors - owned
        assert not orphans, f"vectors without a document row: {sorted(orphans)[:5]}"

    conversations = orchestrator.conversations
    for conversation in conversations.list(limit=10_000):
        messages = conversations.messages(conversation.id)
        streaming = [m.id for m in messages if m.status == "streaming"]
        assert not streaming, f"answers left streaming: {streaming}"
        for question, answer in pairwise(messages):
            if question.role == "user":
                assert answer.role == "assistant", f"question {question.id} has no answer after it"


def assert_store_searchable(orchestrator: Orchestrator) -> None:
    """The store's search index agrees with what it says it holds (the rule above checks
    only its bookkeeping): a backend that keeps its index apart from its records (FAISS)
    could otherwise answer with vectors it lost, or lack ones it still lists.

    * a search for as many hits as a collection holds returns each of its chunks once;
    * a search restricted to a ready document returns exactly that document's chunks.
    For the small libraries of the tests, where every backend searches all it holds.
    """
    store = orchestrator.store
    documents = orchestrator.library.list_documents()
    for collection in orchestrator.library.list_collections():
        held = store.chunk_ids(collection.key)
        if not held or collection.embedding_dim is None:
            continue
        probe = [1.0] * collection.embedding_dim
        found = [hit.chunk_id for hit in store.query(collection.key, probe, k=len(held))]
        assert len(found) == len(set(found)), "a search returned a chunk twice"
        assert set(found) == held, (
            f"searching {collection.key} misses {sorted(held - set(found))[:3]} "
            f"and finds unlisted {sorted(set(found) - held)[:3]}"
        )
        for document in documents:
            if document.collection_id != collection.id or document.status != "ready":
                continue
            hits = store.query(
                collection.key, probe, k=document.chunk_count, document_ids=[document.id]
            )
            assert {hit.chunk_id for hit in hits} == store.chunk_ids(collection.key, document.id)
