"""A source: one passage an answer draws on, numbered as the model was told to cite it.

One type from retrieval to storage to every front end: the search builds it, the
orchestrator streams it (``SourcesFound``, ``AnswerDone``), the conversation store keeps
every field of it with the answer, and the window, the CLI, the API, the MCP server and
the Markdown export read it back as it was. So a citation reopened from history opens
the reader at the same page, section and span as it did live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import PurePath


@dataclass(frozen=True)
class Source:
    """One retrieved passage and where it comes from."""

    number: int  # the [n] the answer cites it by
    document_id: str
    chunk_id: str
    path: str
    title: str
    page: int | None  # 1-based; None for documents without pages
    score: float
    snippet: str  # the passage flattened and cut for display (the whole text is the chunk's)
    heading_path: tuple[str, ...] = ()  # the headings above the passage, outermost first
    char_start: int = 0  # the passage's span in the document's text
    char_end: int = 0
    ocr: bool = False  # its page was read by OCR (a scan or a picture)

    @property
    def span(self) -> tuple[int, int]:
        return self.char_start, self.char_end

    @property
    def name(self) -> str:
        """The document's title, else its file name."""
        return self.title or PurePath(self.path.replace("\\", "/")).name

    @property
    def section(self) -> str:
        """The headings above the passage, "Bicycle care › Chain"; "" when it has none."""
        return " › ".join(self.heading_path)

    def as_dict(self) -> dict[str, object]:
        """Every field, as JSON-ready values (the CLI's ``--json``)."""
        data = asdict(self)
        data["score"] = round(self.score, 4)
        data["heading_path"] = list(self.heading_path)
        return data


SOURCE_FIELDS = tuple(field.name for field in fields(Source))
"""The names of a source's fields: each front end's wire format carries every one."""
