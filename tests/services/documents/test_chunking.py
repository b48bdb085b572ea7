"""Chunking: structure is respected, offsets are exact, sizes and overlaps hold."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allma_desktop.services.documents.chunking import chunk_document, prefix_for_embedding
from allma_desktop.services.documents.model import (
    Chunk,
    DocumentMetadata,
    ParsedDocument,
    TextBlock,
)

SENTENCE = "The keeper climbs the tower at dusk to light the lamp. "


def make_doc(*blocks: TextBlock) -> ParsedDocument:
    return ParsedDocument(
        path=Path("/docs/manual.pdf"),
        metadata=DocumentMetadata(title="Harbor Manual", file_type="pdf"),
        blocks=list(blocks),
    )


def chunk(doc: ParsedDocument, size: int = 200, overlap: int = 30) -> list[Chunk]:
    return chunk_document(doc, "doc", chunk_size=size, chunk_overlap=overlap)


def test_chunks_never_span_two_pages() -> None:
    doc = make_doc(TextBlock("Page one text.", page=1), TextBlock("Page two text.", page=2))

    chunks = chunk(doc)

    assert [(c.text, c.page) for c in chunks] == [("Page one text.", 1), ("Page two text.", 2)]


def test_chunks_never_span_two_sections() -> None:
    doc = make_doc(
        TextBlock("Lamp", heading_path=("Lamp",), kind="heading"),
        TextBlock("The lamp burns.", heading_path=("Lamp",)),
        TextBlock("Lens", heading_path=("Lens",), kind="heading"),
        TextBlock("The lens is clean.", heading_path=("Lens",)),
    )

    chunks = chunk(doc)

    assert [(c.text, c.heading_path) for c in chunks] == [
        ("Lamp\n\nThe lamp burns.", ("Lamp",)),
        ("Lens\n\nThe lens is clean.", ("Lens",)),
    ]


def test_small_paragraphs_of_a_section_are_packed_together() -> None:
    doc = make_doc(*(TextBlock(f"Short paragraph {n}.") for n in range(5)))

    chunks = chunk(doc, size=200)

    assert len(chunks) == 1
    assert chunks[0].text == doc.full_text


def test_heading_travels_with_the_paragraph_under_it() -> None:
    heading = TextBlock("Lamp maintenance", heading_path=("Lamp maintenance",), kind="heading")
    body = TextBlock(SENTENCE * 6, heading_path=("Lamp maintenance",))

    chunks = chunk(make_doc(heading, body), size=200)

    assert chunks[0].text.startswith("Lamp maintenance\n\nThe keeper climbs")
    assert all(c.text != "Lamp maintenance" for c in chunks)


def test_heading_only_section_joins_the_next_section_on_its_page() -> None:
    doc = make_doc(
        TextBlock("Lighthouse", page=1, heading_path=("Lighthouse",), kind="heading"),
        TextBlock("Lamp", page=1, heading_path=("Lighthouse", "Lamp"), kind="heading"),
        TextBlock("The lamp burns.", page=1, heading_path=("Lighthouse", "Lamp")),
    )

    (only,) = chunk(doc)

    assert only.text == "Lighthouse\n\nLamp\n\nThe lamp burns."
    assert only.heading_path == ("Lighthouse", "Lamp")


def test_heading_only_section_does_not_join_the_next_page() -> None:
    doc = make_doc(
        TextBlock("Lighthouse", page=1, heading_path=("Lighthouse",), kind="heading"),
        TextBlock("The lamp burns.", page=2, heading_path=("Lighthouse",)),
    )

    assert [(c.text, c.page) for c in chunk(doc)] == [
        ("Lighthouse", 1),
        ("The lamp burns.", 2),
    ]


def test_long_paragraph_is_split_at_sentence_ends() -> None:
    doc = make_doc(TextBlock(SENTENCE * 10))

    chunks = chunk(doc, size=200, overlap=0)

    assert len(chunks) > 1
    assert all(c.text.endswith("lamp.") for c in chunks)
    assert all(len(c.text) <= 200 for c in chunks)


def test_code_is_split_at_line_breaks() -> None:
    code = "\n".join(f"    value_{n} = compute({n})" for n in range(40))
    doc = make_doc(TextBlock(code, kind="code"))

    chunks = chunk(doc, size=200, overlap=0)

    assert len(chunks) > 1
    assert all(c.char_end == len(code) or code[c.char_end] == "\n" for c in chunks)


def test_text_without_any_space_is_cut_at_exactly_chunk_size() -> None:
    # The one case a chunk ends mid-word: a "word" longer than a chunk (a URL, base64).
    doc = make_doc(TextBlock("x" * 450))

    chunks = chunk(doc, size=200, overlap=0)

    assert [len(c.text) for c in chunks] == [200, 200, 50]


def test_consecutive_chunks_overlap_starting_at_a_word() -> None:
    doc = make_doc(TextBlock(" ".join(f"word{n}" for n in range(200))))

    chunks = chunk(doc, size=200, overlap=40)

    for previous, current in itertools.pairwise(chunks):
        overlap = previous.char_end - current.char_start
        assert 0 < overlap <= 40
        assert current.text.startswith("word")
        assert doc.full_text[current.char_start - 1] == " "


def test_overlap_prefers_a_sentence_start() -> None:
    doc = make_doc(TextBlock(SENTENCE * 10))

    chunks = chunk(doc, size=200, overlap=80)

    assert all(c.text.startswith("The keeper") for c in chunks)
    assert any(prev.char_end > cur.char_start for prev, cur in itertools.pairwise(chunks))


def test_zero_overlap_gives_disjoint_chunks() -> None:
    doc = make_doc(TextBlock(SENTENCE * 20))

    chunks = chunk(doc, size=200, overlap=0)

    assert all(p.char_end <= c.char_start for p, c in itertools.pairwise(chunks))


def test_overlap_never_pushes_the_next_paragraph_into_two_chunks() -> None:
    first = TextBlock("Intro sentence one. Intro sentence two. " * 4)
    second = TextBlock("A" + " paragraph that fits alone" * 6 + ".")
    doc = make_doc(first, second)

    chunks = chunk(doc, size=len(second.text) + 10, overlap=50)

    assert any(second.text in c.text for c in chunks)


def test_chunks_carry_ids_and_document_metadata() -> None:
    doc = make_doc(TextBlock("One.", page=1), TextBlock("Two.", page=2))

    chunks = chunk_document(doc, "abc")

    assert [c.chunk_id for c in chunks] == ["abc:0", "abc:1"]
    assert [c.index for c in chunks] == [0, 1]
    assert {(c.document_id, c.path, c.title, c.file_type) for c in chunks} == {
        ("abc", "/docs/manual.pdf", "Harbor Manual", "pdf")
    }


def test_whitespace_only_blocks_make_no_chunks() -> None:
    doc = make_doc(TextBlock("   "), TextBlock("Text."), TextBlock("\n\n"))

    assert [c.text for c in chunk(doc)] == ["Text."]


@pytest.mark.parametrize(("size", "overlap"), [(0, 0), (100, -1), (100, 100)])
def test_impossible_sizes_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        chunk_document(make_doc(TextBlock("x")), "d", chunk_size=size, chunk_overlap=overlap)


def test_embedding_text_names_title_and_section() -> None:
    (only,) = chunk(make_doc(TextBlock("It is cleaned on Fridays.", heading_path=("Lamp", "Lens"))))

    assert prefix_for_embedding(only) == "Harbor Manual\nLamp > Lens\n\nIt is cleaned on Fridays."


def test_embedding_text_skips_heading_that_repeats_title() -> None:
    (only,) = chunk(make_doc(TextBlock("Text.", heading_path=("Harbor Manual",))))

    assert prefix_for_embedding(only) == "Harbor Manual\n\nText."


# --- Properties -------------------------------------------------------------------

_WORDS = st.sampled_from(
    [
        "lamp",
        "keeper",
        "a",
        "tower",
        "x" * 40,
        "3500",
        "Grüße",
        "灯塔",
        ".",
        ". ",
        "! ",
        "? ",
        "。",
        "\n",
        "\n\n",
        " ",
        "  ",
        "\t",
    ]
)
_BLOCK_TEXT = st.lists(_WORDS, max_size=60).map("".join)
_BLOCKS = st.lists(
    st.builds(
        TextBlock,
        text=_BLOCK_TEXT,
        page=st.sampled_from([None, 1, 2]),
        heading_path=st.sampled_from([(), ("A",), ("A", "B")]),
        kind=st.sampled_from(["heading", "paragraph", "table", "code", "list"]),
    ),
    max_size=12,
)


@st.composite
def _sizes(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=8, max_value=300))
    return size, draw(st.integers(min_value=0, max_value=size - 1))


def _covered(chunks: list[Chunk], length: int) -> list[bool]:
    covered = [False] * length
    for c in chunks:
        covered[c.char_start : c.char_end] = [True] * (c.char_end - c.char_start)
    return covered


def _block_spans(doc: ParsedDocument) -> list[tuple[int, int, TextBlock]]:
    spans, offset = [], 0
    for block in doc.blocks:
        spans.append((offset, offset + len(block.text), block))
        offset += len(block.text) + 2
    return spans


@settings(max_examples=300, deadline=None)
@given(blocks=_BLOCKS, sizes=_sizes())
def test_chunks_keep_every_invariant(blocks: list[TextBlock], sizes: tuple[int, int]) -> None:
    size, overlap = sizes
    doc = make_doc(*blocks)
    text = doc.full_text

    chunks = chunk(doc, size=size, overlap=overlap)

    for c in chunks:
        assert text[c.char_start : c.char_end] == c.text  # offsets reproduce the text
        assert c.text.strip() and c.text == c.text.strip()  # never empty, trimmed
        assert len(c.text) <= size  # never longer than chunk_size, no exception
    for previous, current in itertools.pairwise(chunks):
        assert current.char_start > previous.char_start
        assert previous.char_end - current.char_start <= overlap
    covered = _covered(chunks, len(text))
    assert all(covered[i] for i, char in enumerate(text) if not char.isspace())


@settings(max_examples=200, deadline=None)
@given(blocks=_BLOCKS, sizes=_sizes())
def test_chunks_stay_within_one_page_and_section(
    blocks: list[TextBlock], sizes: tuple[int, int]
) -> None:
    doc = make_doc(*blocks)

    for c in chunk(doc, size=sizes[0], overlap=sizes[1]):
        for start, end, block in _block_spans(doc):
            if start < c.char_end and c.char_start < end and block.text.strip():
                assert block.page == c.page
                # Only a heading-only section may join the section after it.
                assert block.heading_path == c.heading_path or block.kind == "heading"


@settings(max_examples=100, deadline=None)
@given(blocks=_BLOCKS, sizes=_sizes())
def test_overlapping_chunks_share_page_and_section(
    blocks: list[TextBlock], sizes: tuple[int, int]
) -> None:
    chunks = chunk(make_doc(*blocks), size=sizes[0], overlap=sizes[1])

    for previous, current in itertools.pairwise(chunks):
        if previous.char_end > current.char_start:
            assert (previous.page, previous.heading_path) == (current.page, current.heading_path)
