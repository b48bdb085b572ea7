"""A library of one document, a page per text, stored with chosen vectors: what the
ranking tests search, with the vector search's order set by the test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath

from peewee import SqliteDatabase

from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.vectorstore.chroma import ChromaVectorStore


def store_pages(
    db: SqliteDatabase,
    store: ChromaVectorStore,
    path: str,
    pages: Sequence[str],
    vectors: Sequence[list[float]],
) -> str:
    """Store ``pages`` as the pages of the document at ``path`` (page ``n`` has
    ``vectors[n - 1]``), as indexing stores a document; the collection's key."""
    library = LibraryService(db)
    collection = library.default_collection()
    document = library.start_document(collection.id, path)
    title = PurePosixPath(path).stem
    chunks = [
        Chunk(
            chunk_id=f"{document.id}:{index}",
            document_id=document.id,
            index=index,
            text=text,
            path=path,
            title=title,
            page=index + 1,
            heading_path=(),
            char_start=0,
            char_end=len(text),
        )
        for index, text in enumerate(pages)
    ]
    store.add(collection.key, chunks, list(vectors))
    library.commit_document(
        document.id,
        chunks=chunks,
        collection_key=collection.key,
        metadata=DocumentMetadata(title=title, file_type="pdf"),
    )
    return collection.key
