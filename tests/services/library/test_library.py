"""Collections and document rows, and atomic chunk commits."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from peewee import SqliteDatabase

from allma_desktop.errors import AllmaError, DiskFull, NotFound
from allma_desktop.records import DocumentRecord
from allma_desktop.services.documents.model import Chunk, DocumentMetadata
from allma_desktop.services.library import storage
from allma_desktop.services.library.catalog import LibraryService
from allma_desktop.services.library.storage import ChunkText, OcrChunk


@pytest.fixture
def library(db: SqliteDatabase) -> LibraryService:
    return LibraryService(db)


def _chunks(document: DocumentRecord, texts: list[str], page: int | None = 1) -> list[Chunk]:
    chunks = []
    offset = 0
    for index, text in enumerate(texts):
        chunks.append(
            Chunk(
                chunk_id=f"{document.id}:{index}",
                document_id=document.id,
                index=index,
                text=text,
                path=document.path,
                title="Lease",
                page=page,
                heading_path=("Lease", "Pets"),
                char_start=offset,
                char_end=offset + len(text),
                file_type="pdf",
            )
        )
        offset += len(text) + 2
    return chunks


def _metadata(content_hash: str = "h1") -> DocumentMetadata:
    return DocumentMetadata(
        title="Lease",
        author="Landlord",
        page_count=3,
        file_type="pdf",
        content_hash=content_hash,
        size_bytes=1234,
    )


def _indexed(
    library: LibraryService, path: str, texts: list[str], content_hash: str = "h1"
) -> DocumentRecord:
    collection = library.default_collection()
    document = library.start_document(collection.id, path)
    return library.commit_document(
        document.id,
        chunks=_chunks(document, texts),
        collection_key=collection.key,
        metadata=_metadata(content_hash),
        mtime=1700000000.5,
    )


def test_default_collection_is_created_once_and_called_library(library: LibraryService) -> None:
    first = library.default_collection()
    assert library.default_collection() == first
    assert first.name == "Library" and first.key.startswith("c_")


def test_creating_a_collection_with_a_taken_name_names_it_in_the_error(
    library: LibraryService,
) -> None:
    library.create_collection("Papers")
    with pytest.raises(AllmaError, match="'Papers'"):
        library.create_collection(" Papers ")


def test_creating_a_collection_with_a_blank_name_is_refused(library: LibraryService) -> None:
    with pytest.raises(AllmaError, match="needs a name"):
        library.create_collection("   ")


def test_renaming_a_collection_onto_another_name_is_refused(library: LibraryService) -> None:
    library.create_collection("Papers")
    notes = library.create_collection("Notes")
    with pytest.raises(AllmaError, match="'Papers'"):
        library.rename_collection(notes.id, "Papers")


def test_renaming_a_collection_keeps_its_key(library: LibraryService) -> None:
    notes = library.create_collection("Notes")
    renamed = library.rename_collection(notes.id, "Journal")
    assert (renamed.name, renamed.key) == ("Journal", notes.key)


def test_collection_by_name_finds_it(library: LibraryService) -> None:
    papers = library.create_collection("Papers")
    assert library.collection_by_name("Papers").id == papers.id


def test_unknown_collection_raises_not_found(library: LibraryService) -> None:
    with pytest.raises(NotFound):
        library.get_collection(99)


def test_list_collections_counts_documents_and_chunks(library: LibraryService) -> None:
    _indexed(library, "/docs/a.pdf", ["one", "two"])
    _indexed(library, "/docs/b.pdf", ["three"])
    library.create_collection("Empty")

    counts = {c.name: (c.document_count, c.chunk_count) for c in library.list_collections()}

    assert counts == {"Empty": (0, 0), "Library": (2, 3)}


def test_set_embedding_records_model_and_dimension(library: LibraryService) -> None:
    collection = library.default_collection()
    updated = library.set_embedding(collection.id, "nomic-embed-text", 768)
    assert (updated.embedding_model, updated.embedding_dim) == ("nomic-embed-text", 768)


def test_starting_a_new_document_adds_it_as_indexing(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf", size_bytes=10)
    assert (document.status, document.title, document.file_type) == (
        "indexing",
        "lease.pdf",
        "pdf",
    )


def test_starting_a_known_document_reuses_its_row(library: LibraryService) -> None:
    indexed = _indexed(library, "/docs/lease.pdf", ["text"])
    again = library.start_document(indexed.collection_id, "/docs/lease.pdf")
    assert (again.id, again.status, again.chunk_count) == (indexed.id, "indexing", 1)


def test_documents_are_found_by_their_absolute_path(
    library: LibraryService, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    collection = library.default_collection()
    library.start_document(collection.id, "notes/../lease.pdf")

    found = library.document_by_path(collection.id, tmp_path / "lease.pdf")

    assert found is not None and found.path == str(tmp_path / "lease.pdf")


def test_many_documents_are_found_in_one_call_by_the_paths_as_given(
    library: LibraryService, tmp_path: Path
) -> None:
    collection = library.default_collection()
    names = [f"note-{n}.md" for n in range(1_200)]  # more than one query's worth
    for name in names:
        library.start_document(collection.id, str(tmp_path / name))
    odd = str(tmp_path / "caf\udce9.txt")  # a name that is not UTF-8, stored as a URI
    library.start_document(collection.id, odd)
    asked = [str(tmp_path / name) for name in names] + [odd, str(tmp_path / "never-added.md")]

    found = library.documents_by_paths(collection.id, asked)

    assert set(found) == set(asked) - {str(tmp_path / "never-added.md")}
    assert all(record.path == path for path, record in found.items())


def test_commit_stores_chunks_and_marks_the_document_ready(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["No pets.", "Cats allowed."])
    assert (document.status, document.chunk_count, document.content_hash) == ("ready", 2, "h1")
    assert (document.author, document.page_count, document.mtime) == ("Landlord", 3, 1700000000.5)


def test_chunk_texts_rebuild_the_committed_chunks(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf")
    chunks = _chunks(document, ["No pets.", "Cats allowed.", "Ünïcode ok"], page=None)
    library.commit_document(
        document.id, chunks=chunks, collection_key=collection.key, metadata=_metadata()
    )
    assert library.chunk_texts(document.id) == chunks


def test_chunks_read_by_ocr_keep_their_mark_until_the_document_goes(
    library: LibraryService,
) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/scan.pdf")
    typed, scanned = _chunks(document, ["Typed page.", "Scanned page."])
    chunks = [typed, dataclasses.replace(scanned, ocr=True)]
    library.commit_document(
        document.id, chunks=chunks, collection_key=collection.key, metadata=_metadata()
    )

    assert library.chunk_texts(document.id) == chunks
    assert library.ocr_chunk_ids(document.id) == {scanned.chunk_id}
    library.delete_document(document.id)
    assert OcrChunk.select().count() == 0


def test_recommitting_replaces_the_ocr_marks(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/scan.pdf")
    (scanned,) = _chunks(document, ["Scanned page."])
    library.commit_document(
        document.id,
        chunks=[dataclasses.replace(scanned, ocr=True)],
        collection_key=collection.key,
        metadata=_metadata(),
    )
    library.commit_document(
        document.id, chunks=[scanned], collection_key=collection.key, metadata=_metadata("h2")
    )

    assert library.ocr_chunk_ids(document.id) == set()


def test_recommitting_replaces_the_old_chunks(library: LibraryService) -> None:
    first = _indexed(library, "/docs/lease.pdf", ["old one", "old two", "old three"])
    second = _indexed(library, "/docs/lease.pdf", ["new"], content_hash="h2")

    assert second.id == first.id
    assert library.document_chunk_ids(first.id) == {f"{first.id}:0"}
    assert [chunk.text for chunk in library.chunk_texts(first.id)] == ["new"]


def test_a_failed_commit_keeps_the_old_chunks_and_status(
    db: SqliteDatabase, library: LibraryService
) -> None:
    before = _indexed(library, "/docs/lease.pdf", ["old one", "old two"])
    pages = int(storage.execute_sql(db, "PRAGMA page_count", [])[0][0])
    storage.execute_sql(db, f"PRAGMA max_page_count = {pages + 2}", [])

    with pytest.raises(DiskFull):
        library.commit_document(
            before.id,
            chunks=_chunks(before, ["new text " * 20_000, "more " * 20_000]),
            collection_key=before.collection_key,
            metadata=_metadata("h2"),
        )

    after = library.get_document(before.id)
    assert (after.status, after.content_hash, after.chunk_count) == ("ready", "h1", 2)
    assert [chunk.text for chunk in library.chunk_texts(before.id)] == ["old one", "old two"]


def test_commits_work_again_once_space_is_freed(
    db: SqliteDatabase, library: LibraryService
) -> None:
    before = _indexed(library, "/docs/lease.pdf", ["old"])
    pages = int(storage.execute_sql(db, "PRAGMA page_count", [])[0][0])
    storage.execute_sql(db, f"PRAGMA max_page_count = {pages + 2}", [])
    with pytest.raises(DiskFull):
        _indexed(library, "/docs/lease.pdf", ["big " * 50_000], content_hash="h2")

    storage.execute_sql(db, "PRAGMA max_page_count = 1073741823", [])
    after = _indexed(library, "/docs/lease.pdf", ["new"], content_hash="h3")

    assert (after.id, after.content_hash) == (before.id, "h3")


def test_commit_for_another_collection_key_is_refused(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf")
    with pytest.raises(ValueError, match="not c_other"):
        library.commit_document(
            document.id,
            chunks=_chunks(document, ["text"]),
            collection_key="c_other",
            metadata=_metadata(),
        )


def test_mark_failed_records_the_reason(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/scan.pdf")
    failed = library.mark_failed(document.id, "scan.pdf: has no text layer (scanned?)")
    assert (failed.status, failed.error) == ("failed", "scan.pdf: has no text layer (scanned?)")


def test_a_successful_commit_clears_an_earlier_failure(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf")
    library.mark_failed(document.id, "locked")
    recovered = _indexed(library, "/docs/lease.pdf", ["text"])
    assert (recovered.status, recovered.error) == ("ready", None)


def test_list_documents_filters_by_status(library: LibraryService) -> None:
    _indexed(library, "/docs/ready.pdf", ["text"])
    collection = library.default_collection()
    library.start_document(collection.id, "/docs/waiting.pdf", status="queued")
    assert [d.title for d in library.list_documents(status="queued")] == ["waiting.pdf"]


def test_list_documents_filters_by_collection(library: LibraryService) -> None:
    _indexed(library, "/docs/in-library.pdf", ["text"])
    papers = library.create_collection("Papers")
    library.start_document(papers.id, "/docs/paper.pdf")
    assert [d.title for d in library.list_documents(papers.id)] == ["paper.pdf"]


def test_deleting_a_document_removes_its_row_and_chunk_texts(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["one", "two"])

    deleted = library.delete_document(document.id)

    assert deleted.id == document.id
    assert ChunkText.select().count() == 0
    with pytest.raises(NotFound):
        library.get_document(document.id)


def test_deleting_a_collection_deletes_its_documents_and_returns_its_key(
    library: LibraryService,
) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["one", "two"])
    kept = library.create_collection("Kept")
    library.start_document(kept.id, "/docs/other.pdf")

    key = library.delete_collection(document.collection_id)

    assert key == document.collection_key
    assert [d.title for d in library.list_documents()] == ["other.pdf"]
    assert ChunkText.select().count() == 0


def test_moving_a_document_moves_its_chunk_texts(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["one", "two"])
    papers = library.create_collection("Papers")

    moved = library.move_document(document.id, papers.id)

    assert (moved.collection_id, moved.collection_key) == (papers.id, papers.key)
    keys = {row.collection_key for row in ChunkText.select(ChunkText.collection_key)}
    assert keys == {papers.key}


def test_moving_a_document_onto_a_copy_of_itself_is_refused(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["one"])
    papers = library.create_collection("Papers")
    library.start_document(papers.id, "/docs/lease.pdf")
    with pytest.raises(AllmaError, match="already has"):
        library.move_document(document.id, papers.id)


def test_counts_documents_by_status_and_chunks(library: LibraryService) -> None:
    _indexed(library, "/docs/a.pdf", ["one", "two"])
    collection = library.default_collection()
    failed = library.start_document(collection.id, "/docs/b.pdf")
    library.mark_failed(failed.id, "broken")

    counts = library.counts()

    assert (counts.collections, counts.documents, counts.chunks) == (1, 1, 2)  # ready ones
    assert (counts.ready, counts.failed, counts.indexing, counts.queued) == (1, 1, 0, 0)


def test_documents_left_indexing_by_a_crash_can_be_marked_failed(
    library: LibraryService,
) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/a.pdf")

    assert library.mark_interrupted_as_failed() == 1
    assert library.get_document(document.id).status == "failed"


def test_ready_document_ids_leaves_out_documents_still_indexing(
    library: LibraryService,
) -> None:
    ready = _indexed(library, "/docs/a.pdf", ["one"])
    collection = library.default_collection()
    busy = library.start_document(collection.id, "/docs/b.pdf")

    assert library.ready_document_ids([ready.id, busy.id, "gone"]) == {ready.id}


def test_chunks_by_ids_returns_the_committed_chunks_by_id(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf")
    chunks = _chunks(document, ["No pets.", "Cats allowed.", "Rent is due monthly."])
    library.commit_document(
        document.id, chunks=chunks, collection_key=collection.key, metadata=_metadata()
    )
    found = library.chunks_by_ids([chunks[2].chunk_id, chunks[0].chunk_id])
    assert found == {chunks[2].chunk_id: chunks[2], chunks[0].chunk_id: chunks[0]}


def test_chunks_by_ids_leaves_out_ids_with_no_committed_chunk(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["No pets."])
    found = library.chunks_by_ids([f"{document.id}:0", "never:v1:0"])
    assert set(found) == {f"{document.id}:0"}


def test_chunks_by_ids_leaves_out_chunks_of_deleted_documents(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["No pets."])
    library.delete_document(document.id)
    assert library.chunks_by_ids([f"{document.id}:0"]) == {}


def test_chunks_by_ids_carries_the_current_document_title(library: LibraryService) -> None:
    document = _indexed(library, "/docs/lease.pdf", ["No pets."])
    (chunk,) = library.chunks_by_ids([f"{document.id}:0"]).values()
    assert (chunk.title, chunk.path, chunk.file_type) == ("Lease", document.path, "pdf")


def test_chunks_by_ids_finds_more_ids_than_one_query_can_hold(library: LibraryService) -> None:
    document = _indexed(library, "/docs/long.pdf", [f"part {number}" for number in range(1200)])
    found = library.chunks_by_ids(library.document_chunk_ids(document.id))
    assert len(found) == 1200


def test_chunks_by_ids_of_nothing_is_empty(library: LibraryService) -> None:
    _indexed(library, "/docs/lease.pdf", ["No pets."])
    assert library.chunks_by_ids([]) == {}


def test_chunk_texts_come_in_order_whatever_the_commit_order(library: LibraryService) -> None:
    collection = library.default_collection()
    document = library.start_document(collection.id, "/docs/lease.pdf")
    chunks = _chunks(document, ["first", "second", "third"])
    library.commit_document(
        document.id,
        chunks=list(reversed(chunks)),
        collection_key=collection.key,
        metadata=_metadata(),
    )
    assert library.chunk_texts(document.id) == chunks


def _plan(db: SqliteDatabase, sql: str, params: list[object]) -> str:
    rows = storage.execute_sql(db, f"EXPLAIN QUERY PLAN {sql}", params)
    return " | ".join(str(row[-1]) for row in rows)


def test_chunk_look_ups_by_document_and_by_id_use_an_index(db: SqliteDatabase) -> None:
    by_document = _plan(db, "SELECT * FROM chunk_text WHERE document_id = ?", ["d"])
    by_id = _plan(db, "SELECT * FROM chunk_text WHERE chunk_id IN (?, ?)", ["a", "b"])
    assert "USING INDEX" in by_document and "SCAN" not in by_document
    assert "USING INDEX" in by_id and "SCAN" not in by_id


def test_documents_are_counted_once_the_same_way_failed_ones_apart(
    library: LibraryService,
) -> None:
    _indexed(library, "/docs/a.pdf", ["one", "two"])
    broken = library.start_document(library.default_collection().id, "/docs/broken.pdf")
    library.mark_failed(broken.id, "not a PDF")

    (collection,) = library.list_collections()
    counts = library.counts()

    assert (collection.document_count, collection.failed_count) == (1, 1)
    assert (counts.documents, counts.failed) == (1, 1)


def test_a_file_stopped_by_cancel_is_counted_cancelled_not_unreadable(
    library: LibraryService,
) -> None:
    _indexed(library, "/docs/a.pdf", ["one", "two"])
    collection = library.default_collection()
    library.mark_failed(library.start_document(collection.id, "/docs/b.pdf").id, "broken")
    library.mark_failed(library.start_document(collection.id, "/docs/c.pdf").id, "cancelled")
    library.mark_failed(library.start_document(collection.id, "/docs/d.pdf").id, "cancelled")

    counts = library.counts()
    (record,) = library.list_collections()

    assert (counts.documents, counts.chunks, counts.failed, counts.cancelled) == (1, 2, 1, 2)
    assert counts.rows == 4
    assert record.counts.summary() == (
        "1 document · 2 passages · 1 could not be read · 2 cancelled"
    )


def test_the_ready_text_size_counts_ready_documents_and_their_characters_only(
    library: LibraryService,
) -> None:
    _indexed(library, "/docs/a.pdf", ["No pets.", "Cats allowed."])  # 8 + 13 characters
    _indexed(library, "/docs/b.pdf", ["Ünïcode ok"], content_hash="h2")  # 10 characters
    failed = _indexed(library, "/docs/c.pdf", ["Gone soon."], content_hash="h3")
    library.mark_failed(failed.id, "damaged")
    library.start_document(library.default_collection().id, "/docs/d.pdf")  # no text yet
    other = library.create_collection("Other")
    library.start_document(other.id, "/docs/e.pdf")

    collection_id = library.default_collection().id
    assert library.ready_document_count(collection_id) == 2
    assert library.ready_text_characters(collection_id) == 8 + 13 + 10
    assert library.ready_document_count(other.id) == 0
    assert library.ready_text_characters(other.id) == 0
