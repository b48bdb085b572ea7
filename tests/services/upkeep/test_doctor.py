"""The doctor: the quick repair at start, and the full check with and without repair."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.records import DocumentRecord
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.library.storage import ChunkText, execute_sql
from allma_desktop.services.retrieval.keyword_index import KeywordIndex
from allma_desktop.services.upkeep.doctor import INTERRUPTED_REASON, NEEDS_REINDEX_REASON
from tests.support.invariants import assert_library_consistent
from tests.support.ollama_server import EMBEDDING_DIMENSIONS
from tests.support.sample_docs import SampleLibrary


def fake_chunk(chunk_id: str, document_id: str, text: str = "stray text") -> Chunk:
    return Chunk(chunk_id, document_id, 0, text, "/nowhere.txt", "Nowhere", None, (), 0, len(text))


def unit_vector() -> list[float]:
    return [1.0] + [0.0] * (EMBEDDING_DIMENSIONS - 1)


async def ingest(engine: Orchestrator, *paths: Path) -> None:
    async for _ in engine.ingest(list(paths)):
        pass


def kinds(report: object) -> set[str]:
    return {problem.kind for problem in getattr(report, "problems", ())}


async def indexed_pdf(engine: Orchestrator, sample_library: SampleLibrary) -> DocumentRecord:
    await ingest(engine, sample_library.pdf)
    (document,) = engine.list_documents()
    assert document.status == "ready"
    return document


async def test_a_clean_library_passes_the_check(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await ingest(orchestrator, sample_library.folder)
    report = await orchestrator.doctor()
    assert report.ok
    assert report.problems == ()


async def test_vectors_without_a_document_row_are_reported_then_deleted_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    key = document.collection_key
    orchestrator.store.add(key, [fake_chunk("gone:v1:0", "gone")], [unit_vector()])

    found = await orchestrator.doctor()
    assert not found.ok and "orphan_vectors" in kinds(found)
    assert "gone:v1:0" in orchestrator.store.chunk_ids(key)

    repaired = await orchestrator.doctor(repair=True)
    assert repaired.ok and repaired.repaired
    assert "gone:v1:0" not in orchestrator.store.chunk_ids(key)
    assert (await orchestrator.doctor()).problems == ()


async def test_stale_vectors_of_an_older_version_are_deleted_and_the_document_stays_ready(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    stale = f"{document.id}:oldhash:0"
    orchestrator.store.add(
        document.collection_key, [fake_chunk(stale, document.id)], [unit_vector()]
    )

    await orchestrator.doctor(repair=True)

    assert stale not in orchestrator.store.chunk_ids(document.collection_key)
    assert orchestrator.library.get_document(document.id).status == "ready"
    assert_library_consistent(orchestrator)


async def test_ready_document_missing_vectors_gets_them_back_from_its_texts_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    some_chunk = sorted(orchestrator.library.document_chunk_ids(document.id))[0]
    orchestrator.store.delete_chunks(document.collection_key, [some_chunk])

    found = await orchestrator.doctor()
    assert "missing_vectors" in kinds(found)
    assert orchestrator.library.get_document(document.id).status == "ready"

    repaired = await orchestrator.doctor(repair=True)
    assert repaired.ok
    assert orchestrator.library.get_document(document.id).status == "ready"
    assert some_chunk in orchestrator.store.chunk_ids(document.collection_key, document.id)
    assert_library_consistent(orchestrator)


async def test_ready_document_missing_chunk_texts_is_marked_for_reindex_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    some_chunk = sorted(orchestrator.library.document_chunk_ids(document.id))[0]
    ChunkText.delete().where(ChunkText.chunk_id == some_chunk).execute()

    found = await orchestrator.doctor()
    assert "incomplete_documents" in kinds(found)
    assert orchestrator.library.get_document(document.id).status == "ready"

    await orchestrator.doctor(repair=True)
    failed = orchestrator.library.get_document(document.id)
    assert (failed.status, failed.error) == ("failed", NEEDS_REINDEX_REASON)

    await ingest(orchestrator, sample_library.pdf)
    assert orchestrator.library.get_document(document.id).status == "ready"
    assert_library_consistent(orchestrator)


async def test_keyword_rows_of_deleted_documents_are_removed_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    ChunkText.insert(
        text="zanzibar marmalade",
        chunk_id="gone:v1:0",
        document_id="gone",
        collection_key=document.collection_key,
        page=None,
        heading_path="[]",
        char_start=0,
        char_end=18,
        chunk_index=0,
    ).execute()

    found = await orchestrator.doctor()
    assert "orphan_chunk_texts" in kinds(found)
    await orchestrator.doctor(repair=True)

    assert ChunkText.select().where(ChunkText.document_id == "gone").count() == 0
    assert (await orchestrator.doctor()).ok


async def test_a_keyword_index_out_of_step_is_rebuilt_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    document = await indexed_pdf(orchestrator, sample_library)
    db = orchestrator.library.db
    execute_sql(db, "DELETE FROM chunk_terms_fts", ())

    assert "keyword_index_out_of_step" in kinds(await orchestrator.doctor())
    await orchestrator.doctor(repair=True)

    (chunk, *_) = orchestrator.library.chunk_texts(document.id)
    word = max(chunk.text.split(), key=len).strip(".,;:()")
    hits = KeywordIndex(db).search(document.collection_key, word, k=5)
    assert chunk.chunk_id in {hit.chunk_id for hit in hits}
    assert (await orchestrator.doctor()).ok


async def test_vector_collection_unknown_to_the_library_is_dropped_on_repair(
    orchestrator: Orchestrator, sample_library: SampleLibrary
) -> None:
    await indexed_pdf(orchestrator, sample_library)  # not a library that lost its database
    orchestrator.store.add("c_strayed0000", [fake_chunk("x:v:0", "x")], [unit_vector()])

    found = await orchestrator.doctor()
    assert "orphan_collection" in kinds(found)
    await orchestrator.doctor(repair=True)

    assert "c_strayed0000" not in {c.key for c in orchestrator.store.list_collections()}


async def test_startup_repair_fails_interrupted_documents_and_keeps_cut_off_answers(
    config: AppConfig, sample_library: SampleLibrary
) -> None:
    engine = Orchestrator(config)
    await engine.open()
    collection = engine.collection(None)
    # What a crash mid-ingest leaves: a row still indexing, vectors without chunk texts.
    row = engine.library.start_document(collection.id, sample_library.text)
    engine.store.add(collection.key, [fake_chunk(f"{row.id}:v1:0", row.id)], [unit_vector()])
    # ... and mid-answer: an answer still streaming, partly saved.
    conversation = engine.conversations.create()
    engine.conversations.add_message(conversation.id, "user", "What is fed on Sundays?")
    answer = engine.conversations.add_message(
        conversation.id, "assistant", "The sourdough", status="streaming"
    )
    await engine.close()

    restarted = Orchestrator(config)
    await restarted.open()
    try:
        document = restarted.library.get_document(row.id)
        assert (document.status, document.error) == ("failed", INTERRUPTED_REASON)
        assert restarted.store.chunk_ids(collection.key, row.id) == set()
        kept = restarted.conversations.get_message(answer.id)
        assert (kept.status, kept.content) == ("interrupted", "The sourdough")
        report = await restarted.doctor()
        assert {"interrupted_indexing", "interrupted_answer"} <= {p.kind for p in report.repaired}
        assert report.ok
        assert_library_consistent(restarted)
    finally:
        await restarted.close()


def test_doctor_command_exits_non_zero_until_repaired(
    app_env: dict[str, str], config: AppConfig, sample_library: SampleLibrary
) -> None:
    def allma(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "allma_desktop.cli", *args],
            env={**os.environ, **app_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert allma("ingest", str(sample_library.markdown)).returncode == 0
    # A stray Chroma collection, as left by a collection deleted while the app crashed.
    from allma_desktop.services.vectorstore.chroma import ChromaVectorStore

    store = ChromaVectorStore(config.vectors_path)
    store.add("c_strayed0000", [fake_chunk("x:v:0", "x")], [unit_vector()])
    store.close()

    found = allma("doctor")
    assert found.returncode == 1
    assert "no longer has" in found.stdout and "allma doctor --repair" in found.stdout
    repaired = allma("doctor", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stderr
    assert json.loads(repaired.stdout)["problems"][0]["repaired"] is True
    assert allma("doctor").returncode == 0
