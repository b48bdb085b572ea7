"""Reading a page back from its stored chunks: every word once, in order, despite overlaps."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from allma_desktop.services.documents.chunking import chunk_document
from allma_desktop.services.documents.model import DocumentMetadata, ParsedDocument, TextBlock
from allma_desktop.services.library.catalog import text_of_chunks

WORDS = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
PARAGRAPH = st.lists(WORDS, min_size=1, max_size=60).map(" ".join)


def document(paragraphs: list[str]) -> ParsedDocument:
    return ParsedDocument(
        path=Path("/docs/notes.txt"),
        metadata=DocumentMetadata(title="Notes", file_type="text"),
        blocks=[TextBlock(text) for text in paragraphs],
    )


@settings(max_examples=60, deadline=None)
@given(paragraphs=st.lists(PARAGRAPH, min_size=1, max_size=8))
def test_overlapping_chunks_give_back_the_words_of_the_document(paragraphs: list[str]) -> None:
    parsed = document(paragraphs)
    chunks = chunk_document(parsed, "doc", chunk_size=120, chunk_overlap=40)

    assert text_of_chunks(chunks).split() == parsed.full_text.split()


def test_chunks_in_any_order_read_in_document_order() -> None:
    parsed = document(["first part " * 30, "second part " * 30])
    chunks = chunk_document(parsed, "doc", chunk_size=150, chunk_overlap=50)
    assert len(chunks) > 2

    assert text_of_chunks(reversed(chunks)) == text_of_chunks(chunks)
