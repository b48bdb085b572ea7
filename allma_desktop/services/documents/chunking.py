"""Cut a parsed document into chunks that respect its structure.

Rules, in order of precedence:

* A chunk lies within one section: the same page and the same heading path.
  (Citations name one page; a chunk is about one section.) The one exception:
  a section holding only headings (a chapter title straight before its first
  subsection) joins the section after it on the same page, so a heading
  always travels with the text under it.
* A chunk is never longer than ``chunk_size`` characters. Whole blocks
  (paragraphs, tables, code) are packed greedily; a chunk does not end right
  after a heading. A block too long for the room left is split at the last
  sentence end (prose) or blank line / line break (code, tables) in the second
  half of the room, else at the last whitespace, else - a single "word" longer
  than a chunk, such as a base64 blob - at exactly ``chunk_size``.
* Consecutive chunks of one section overlap by at most ``chunk_overlap``
  characters, starting at a sentence start, else a word start, inside that
  window (less, or none, when the next paragraph would not fit whole otherwise).
  The overlap is only ever taken from the text the previous chunk added.
* ``full_text[char_start:char_end] == text``; a chunk neither starts nor ends
  with whitespace and is never empty; every non-whitespace character of the
  document is in some chunk.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from allma_desktop.services.documents.model import BlockKind, Chunk, ParsedDocument

_SENTENCE_END = re.compile(r"[.!?…][)\]\"'»”’]*(?=\s)|[。！？]")
_SENTENCE_START = re.compile(r"[.!?…][)\]\"'»”’]*\s+(?=\S)|[。！？]\s*(?=\S)")
_WORD_START = re.compile(r"\s+(?=\S)")
_PROSE_KINDS: frozenset[BlockKind] = frozenset({"paragraph", "list", "heading"})


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    kind: BlockKind


@dataclass
class _Section:
    page: int | None
    heading_path: tuple[str, ...]
    blocks: list[_Span] = field(default_factory=list)
    ocr: bool = False  # a section lies on one page, which OCR read whole or not at all

    def only_headings(self, text: str) -> bool:
        return all(b.kind == "heading" or not text[b.start : b.end].strip() for b in self.blocks)


def _sections(doc: ParsedDocument, text: str) -> list[_Section]:
    """Blocks grouped by (page, heading path), heading-only sections joined to the next."""
    sections: list[_Section] = []
    offset = 0
    for block in doc.blocks:
        span = _Span(offset, offset + len(block.text), block.kind)
        offset = span.end + len(ParsedDocument.BLOCK_SEPARATOR)
        last = sections[-1] if sections else None
        if last is None or (last.page, last.heading_path) != (block.page, block.heading_path):
            last = _Section(block.page, block.heading_path)
            sections.append(last)
        last.blocks.append(span)
        last.ocr = last.ocr or block.ocr

    merged: list[_Section] = []
    carried: list[_Span] = []
    for index, section in enumerate(sections):
        following = sections[index + 1] if index + 1 < len(sections) else None
        if following is not None and following.page == section.page and section.only_headings(text):
            carried.extend(section.blocks)
            continue
        section.blocks[:0] = carried
        carried = []
        merged.append(section)
    return merged


def _skip_whitespace(text: str, position: int, stop: int) -> int:
    while position < stop and text[position].isspace():
        position += 1
    return position


def _trim_end(text: str, end: int, floor: int) -> int:
    while end > floor and text[end - 1].isspace():
        end -= 1
    return end


class _SectionChunker:
    def __init__(self, text: str, section: _Section, size: int, overlap: int) -> None:
        self.text = text
        self.blocks = section.blocks
        self.block_ends = [block.end for block in section.blocks]
        self.size = size
        self.overlap = overlap

    def spans(self) -> Iterator[tuple[int, int]]:
        text = self.text
        stop = _trim_end(text, self.blocks[-1].end, self.blocks[0].start)
        start = _skip_whitespace(text, self.blocks[0].start, stop)
        fresh = start  # first character no earlier chunk holds
        while fresh < stop:
            limit = start + self.size
            end = stop if stop <= limit else self._split_point(start, fresh, limit)
            end = _trim_end(text, end, fresh + 1)
            yield start, end
            next_fresh = _skip_whitespace(text, end, stop)
            start = self._overlap_start(end, fresh, next_fresh)
            if next_fresh - start >= self.size:  # a long blank run: no room left for new text
                start = next_fresh
            fresh = next_fresh

    def _block_at(self, position: int) -> _Span:
        index = min(bisect.bisect_left(self.block_ends, position), len(self.blocks) - 1)
        return self.blocks[index]

    def _split_point(self, start: int, fresh: int, limit: int) -> int:
        """Where a chunk from ``start`` ends: > ``fresh`` (it adds text) and <= ``limit``."""
        index = bisect.bisect_right(self.block_ends, limit) - 1
        while index >= 0 and self.block_ends[index] > fresh:
            if self.blocks[index].kind != "heading":  # a heading stays with what follows
                return self.block_ends[index]
            index -= 1
        low = max(fresh + 1, start + (limit - start) // 2)
        kind = self._block_at(limit).kind
        window = self.text[low : limit + 1]
        if kind in _PROSE_KINDS:
            ends = [match.end() for match in _SENTENCE_END.finditer(window)]
            sentence_end = next((e for e in reversed(ends) if low + e <= limit), None)
            if sentence_end is not None:
                return low + sentence_end
        else:
            blank_line = window.rfind("\n\n", 0, limit - low)
            if blank_line > 0:
                return low + blank_line
        for separator in ("\n", " ", "\t"):
            found = window.rfind(separator)
            if found > 0:
                return low + found
        return limit

    def _overlap_start(self, end: int, fresh: int, next_fresh: int) -> int:
        """Where the next chunk starts: a sentence or word start at most ``overlap`` before
        ``end``, within the text this chunk added (from ``fresh``)."""
        low = max(end - self.overlap, fresh + 1)
        if next_fresh < self.blocks[-1].end:
            upcoming = self._block_at(next_fresh)
            if upcoming.start >= end and upcoming.end - next_fresh <= self.size:
                low = max(low, upcoming.end - self.size)  # let the next paragraph fit whole
        if self.overlap == 0 or low >= end:
            return next_fresh
        text = self.text
        for match in _SENTENCE_START.finditer(text, max(low - 4, 0), end):
            if low <= match.end() < end:
                return match.end()
        if text[low - 1].isspace() and not text[low].isspace():
            return low
        word = _WORD_START.search(text, low, end)
        if word is not None and word.end() < end:
            return word.end()
        # One token fills the whole window: cut it rather than lose the overlap.
        return low if not text[low].isspace() else next_fresh


def chunk_document(
    doc: ParsedDocument,
    document_id: str,
    *,
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
) -> list[Chunk]:
    """Cut ``doc`` into chunks of at most ``chunk_size`` characters (see the module's rules)."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    if not 0 <= chunk_overlap < chunk_size:
        raise ValueError("chunk_overlap must be at least 0 and less than chunk_size")
    text = doc.full_text
    chunks: list[Chunk] = []
    for section in _sections(doc, text):
        for start, end in _SectionChunker(text, section, chunk_size, chunk_overlap).spans():
            index = len(chunks)
            chunks.append(
                Chunk(
                    chunk_id=f"{document_id}:{index}",
                    document_id=document_id,
                    index=index,
                    text=text[start:end],
                    path=str(doc.path),
                    title=doc.metadata.title,
                    page=section.page,
                    heading_path=section.heading_path,
                    char_start=start,
                    char_end=end,
                    file_type=doc.metadata.file_type,
                    ocr=section.ocr,
                )
            )
    return chunks


def prefix_for_embedding(chunk: Chunk) -> str:
    """The text to embed for ``chunk``: its document title and section, then its text.

    A chunk such as "It is cleaned every Friday." says nothing about *what* is
    cleaned; with "Harbor manual / Lamp maintenance" in front of it, the
    embedding places it near questions about the lamp. The heading path is
    skipped where it merely repeats the title. Shown to the embedding model only;
    the chunk's own text (what the LLM quotes) is unchanged.
    """
    lines = [chunk.title] if chunk.title else []
    headings = list(chunk.heading_path)
    if headings and headings[0] == chunk.title:
        headings = headings[1:]
    if headings:
        lines.append(" > ".join(headings))
    lines.append("")
    lines.append(chunk.text)
    return "\n".join(lines).lstrip("\n")
