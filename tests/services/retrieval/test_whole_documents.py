"""Whole documents as page sources, the prompt that carries them, and their citations."""

from __future__ import annotations

from datetime import UTC, datetime

from allma_desktop.records import DocumentRecord
from allma_desktop.services.documents.model import Chunk
from allma_desktop.services.retrieval.prompting import (
    WHOLE_DOCUMENT_INSTRUCTIONS,
    approx_tokens,
    build_messages,
    whole_document_room,
)
from allma_desktop.services.retrieval.whole_documents import narrowed, whole_documents

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def document(doc_id: str, title: str, path: str, pages: int | None) -> DocumentRecord:
    return DocumentRecord(
        id=doc_id,
        collection_id=1,
        collection_key="library",
        path=path,
        title=title,
        author=None,
        file_type="pdf" if pages else "md",
        content_hash="hash",
        size_bytes=1,
        mtime=0.0,
        page_count=pages,
        chunk_count=0,
        status="ready",
        error=None,
        created_at=NOW,
        updated_at=NOW,
    )


def chunks_of(
    doc: DocumentRecord, texts: list[tuple[int | None, str, tuple[str, ...]]]
) -> list[Chunk]:
    """Chunks laid end to end in the document's text, as the chunker cuts them."""
    chunks, at = [], 0
    for index, (page, text, headings) in enumerate(texts):
        chunks.append(
            Chunk(
                chunk_id=f"{doc.id}:h:{index}",
                document_id=doc.id,
                index=index,
                text=text,
                path=doc.path,
                title=doc.title,
                page=page,
                heading_path=headings,
                char_start=at,
                char_end=at + len(text),
            )
        )
        at += len(text) + 2
    return chunks


REPORT = document("r", "Harbour report", "/docs/report.pdf", 3)
REPORT_CHUNKS = chunks_of(
    REPORT,
    [
        (1, "The harbour opened in 1871.", ()),
        (2, "Dredging deepened the basin to 14 metres.", ()),
        (2, "Pilots board ships at the outer buoy.", ()),
        (3, "Cranes unload 400 containers a day.", ()),
    ],
)
NOTES = document("n", "Notes", "/docs/notes.md", None)
NOTES_CHUNKS = chunks_of(
    NOTES,
    [
        (None, "Keep the quay clean.", ("Notes",)),
        (None, "Oil the winches weekly.", ("Notes", "Winches")),
    ],
)


def test_each_page_is_one_source_numbered_in_page_order() -> None:
    whole = whole_documents([(REPORT, REPORT_CHUNKS), (NOTES, NOTES_CHUNKS)])
    assert [(s.number, s.title, s.page) for s in whole.sources] == [
        (1, "Harbour report", 1),
        (2, "Harbour report", 2),
        (3, "Harbour report", 3),
        (4, "Notes", None),
    ]
    page_two = whole.sources[1]
    assert whole.texts[page_two.chunk_id] == (
        "Dredging deepened the basin to 14 metres.\n\nPilots board ships at the outer buoy."
    )
    assert page_two.span == (REPORT_CHUNKS[1].char_start, REPORT_CHUNKS[2].char_end)
    assert whole.titles == ("Harbour report", "Notes")
    assert whole.tokens >= sum(approx_tokens(text) for text in whole.texts.values())


def test_the_prompt_gives_every_page_under_its_number_and_place() -> None:
    whole = whole_documents([(REPORT, REPORT_CHUNKS), (NOTES, NOTES_CHUNKS)])
    messages, fitted = build_messages(
        "Summarise this",
        list(whole.sources),
        whole.texts,
        [],
        context_tokens=4096,
        whole_documents=True,
        small_model=True,  # asked for whole, a small model gets them whole too
    )
    assert messages[0].content == WHOLE_DOCUMENT_INSTRUCTIONS
    prompt = messages[-1].content
    assert prompt.startswith("Documents, page by page:\n\n[1] (report.pdf, page 1)\n")
    assert "[2] (report.pdf, page 2)\nDredging deepened" in prompt
    assert "[4] (notes.md, section “Notes”)\nKeep the quay clean." in prompt
    assert prompt.endswith("Question: Summarise this")
    assert fitted == list(whole.sources)


def test_the_room_for_whole_documents_is_what_the_prompt_leaves() -> None:
    whole = whole_documents([(REPORT, REPORT_CHUNKS)])
    room = whole_document_room("Summarise this", [], 1024 + 400, "")
    assert 0 < room < 400
    context = 1024 + 400 - room + whole.tokens  # just enough
    _, fitted = build_messages(
        "Summarise this",
        list(whole.sources),
        whole.texts,
        [],
        context_tokens=context,
        whole_documents=True,
    )
    assert len(fitted) == len(whole.sources)


def test_a_cited_page_is_narrowed_to_the_passage_its_sentence_matches() -> None:
    whole = whole_documents([(REPORT, REPORT_CHUNKS), (NOTES, NOTES_CHUNKS)])
    answer = "Pilots board ships at the outer buoy [2]. The winches are oiled weekly. [4]"
    cited = [whole.sources[1], whole.sources[3]]
    pilots, winches = narrowed(whole, cited, answer)
    assert (pilots.number, pilots.page, pilots.chunk_id) == (2, 2, REPORT_CHUNKS[2].chunk_id)
    assert pilots.span == (REPORT_CHUNKS[2].char_start, REPORT_CHUNKS[2].char_end)
    assert winches.heading_path == ("Notes", "Winches")
    assert winches.snippet == "Oil the winches weekly."
    # A page of one passage stays as it is.
    (first,) = narrowed(whole, [whole.sources[0]], "It opened in 1871 [1].")
    assert first == whole.sources[0]
