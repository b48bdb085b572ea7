"""What parsing produces and what chunking cuts it into."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

BlockKind = Literal["heading", "paragraph", "table", "code", "list"]


@dataclass(frozen=True)
class TextBlock:
    """One structural unit of a document, in reading order.

    ``page`` is 1-based as PyMuPDF counts pages (None for formats without pages);
    ``heading_path`` is the chain of headings the block sits under (a heading
    block's own path ends with its own text).
    """

    text: str
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    kind: BlockKind = "paragraph"
    ocr: bool = False  # read by OCR from a picture of the page


@dataclass
class DocumentMetadata:
    title: str
    author: str | None = None
    created: str | None = None  # ISO 8601 where the file says, else None
    modified: str | None = None
    page_count: int | None = None
    file_type: str = ""  # registry key, e.g. "pdf", "docx", "markdown", "text"
    content_hash: str = ""  # sha256 hex of the file's bytes
    size_bytes: int = 0


@dataclass
class ParsedDocument:
    path: Path
    metadata: DocumentMetadata
    blocks: list[TextBlock] = field(default_factory=list)

    BLOCK_SEPARATOR = "\n\n"

    @property
    def full_text(self) -> str:
        """The text that chunk offsets index into: blocks joined by a blank line."""
        return self.BLOCK_SEPARATOR.join(block.text for block in self.blocks)


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document small enough to embed, with where it came from.

    Slotted: an ingest holds thousands at once, and without a ``__dict__`` each is one
    object for the garbage collector (which runs on the GUI thread) to walk instead of two.

    ``char_start``/``char_end`` index into ``ParsedDocument.full_text`` so that
    ``full_text[char_start:char_end] == text``.
    """

    chunk_id: str
    document_id: str
    index: int
    text: str
    path: str
    title: str
    page: int | None
    heading_path: tuple[str, ...]
    char_start: int
    char_end: int
    file_type: str = ""
    ocr: bool = False  # its page was read by OCR (the text may hold misread words)
