"""Search hits take their text from the library, which is where chunk texts live.

Real Chroma and SQLite in a temp folder; the query embedding is given, so no model runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from peewee import SqliteDatabase

from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.model_server.ollama import OllamaService
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.retrieval.rag import RAGService, RetrievalSettings
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

DIMENSION = 8
VECTOR_ONLY = RetrievalSettings(k=5, hybrid=False, min_similarity=-1.0)


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=DIMENSION)
    return [float(x) for x in vector / np.linalg.norm(vector)]


def chunks_of(document_id: str, texts: list[str]) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{document_id}:{index}",
            document_id=document_id,
            index=index,
            text=text,
            path=f"/docs/{document_id}.txt",
            title=document_id,
            page=index + 1,
            heading_path=(),
            char_start=index * 100,
            char_end=index * 100 + len(text),
        )
        for index, text in enumerate(texts)
    ]


def index_document(
    library: LibraryService, store: ChromaVectorStore, path: str, texts: list[str], seed: int
) -> str:
    """As an ingest does: the vectors first, then the chunk texts and the ready row."""
    collection = library.default_collection()
    document = library.start_document(collection.id, path)
    chunks = chunks_of(document.id, texts)
    store.add(collection.key, chunks, [unit(seed + i) for i in range(len(chunks))])
    library.commit_document(
        document.id,
        chunks=chunks,
        collection_key=collection.key,
        metadata=DocumentMetadata(title=Path(path).stem, file_type="text"),
    )
    return document.id


def rag_over(db: SqliteDatabase, store: ChromaVectorStore) -> RAGService:
    return RAGService(OllamaService("http://127.0.0.1:9"), store, KeywordIndex(db), "none")


def test_sources_quote_the_texts_the_library_holds(
    db: SqliteDatabase, store: ChromaVectorStore
) -> None:
    library = LibraryService(db)
    texts = ["The lighthouse lamp is rated at 3500 watts.", "The lens is cleaned on Fridays."]
    index_document(library, store, "/docs/lighthouse.txt", texts, seed=1)
    key = library.default_collection().key

    sources = rag_over(db, store).retrieve_with_embedding("lamp", unit(1), key, VECTOR_ONLY)

    assert [source.snippet for source in sources][:1] == [texts[0]]
    assert sorted(source.snippet for source in sources) == sorted(texts)
    assert all(hit.text == "" for hit in store.query(key, unit(1), k=2))  # not kept twice


def test_vectors_of_a_document_not_in_the_library_are_not_cited(
    db: SqliteDatabase, store: ChromaVectorStore
) -> None:
    # An ingest writes vectors before it commits the document's texts; vectors of a file
    # still being read, or left by one that failed, must not turn into empty sources.
    library = LibraryService(db)
    kept = index_document(library, store, "/docs/kept.txt", ["Kept passage."], seed=1)
    key = library.default_collection().key
    store.add(key, chunks_of("unfinished", ["Half-read passage."]), [unit(1)])

    sources = rag_over(db, store).retrieve_with_embedding("passage", unit(1), key, VECTOR_ONLY)

    assert [(source.document_id, source.snippet) for source in sources] == [(kept, "Kept passage.")]


def test_texts_are_looked_up_in_batches_that_sqlite_accepts(db: SqliteDatabase) -> None:
    library = LibraryService(db)
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/long.txt")
    chunks = chunks_of(document.id, [f"passage {i}" for i in range(1_200)])
    library.commit_document(
        document.id,
        chunks=chunks,
        collection_key=collection.key,
        metadata=DocumentMetadata(title="long", file_type="text"),
    )
    wanted = [chunk.chunk_id for chunk in chunks] + ["no-such-chunk"]

    texts = KeywordIndex(db).texts(wanted)

    assert texts == {chunk.chunk_id: chunk.text for chunk in chunks}
