"""Word documents (.docx): paragraphs, headings and tables in document order.

The body's XML is walked directly rather than through ``iter_inner_content()``
so that text inside content controls (``w:sdt``) and tracked insertions is kept.
Headings are paragraphs styled "Title" / "Heading N" (or a style based on one).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from allma_desktop.errors import CorruptDocument
from allma_desktop.services.documents.files import finish_document, require_nonempty_file
from allma_desktop.services.documents.model import BlockKind, ParsedDocument, TextBlock
from allma_desktop.services.documents.sniff import require_zip
from allma_desktop.services.documents.text import clean_text

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
# Wrappers whose children are body content as if they stood in the body itself.
_TRANSPARENT = frozenset(f"{{{_W}}}{name}" for name in ("sdt", "sdtContent", "customXml", "ins"))
_PARAGRAPH = f"{{{_W}}}p"
_TABLE = f"{{{_W}}}tbl"
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)
_STYLE_INHERITANCE_LIMIT = 5


_OUTSIDE_FALLBACK = "not(ancestor::*[local-name()='Fallback'])"
# A paragraph's visible text: text runs, tabs and line breaks. Alternate content is read
# once (its mc:Fallback copy is skipped), tab stops in paragraph properties are not tabs,
# and deleted text (w:delText) is left out.
_VISIBLE_TEXT = (
    f".//w:t[{_OUTSIDE_FALLBACK}] | .//w:tab[{_OUTSIDE_FALLBACK} and not(ancestor::w:pPr)]"
    f" | .//w:br[{_OUTSIDE_FALLBACK}] | .//w:cr[{_OUTSIDE_FALLBACK}]"
)


def _paragraph_text(paragraph: Any) -> str:
    parts: list[str] = []
    for node in paragraph.xpath(_VISIBLE_TEXT):
        name = node.tag.rsplit("}", 1)[-1]
        if name == "t":
            parts.append(node.text or "")
        else:
            parts.append("\t" if name == "tab" else "\n")
    return clean_text("".join(parts)).strip()


def _body_elements(body: Any) -> Iterator[Any]:
    """The body's paragraphs and tables in order, looking inside transparent wrappers."""
    stack = list(reversed(body))
    while stack:
        element = stack.pop()
        if element.tag in (_PARAGRAPH, _TABLE):
            yield element
        elif element.tag in _TRANSPARENT:
            stack.extend(reversed(element))


class _StyleKinds:
    """What a paragraph style means here: a heading level, a list, or plain text."""

    def __init__(self, document: Any) -> None:
        self._styles = {style.style_id: style for style in document.styles}
        self._cache: dict[str | None, tuple[BlockKind, int]] = {}

    def kind(self, style_id: str | None) -> tuple[BlockKind, int]:
        if style_id not in self._cache:
            self._cache[style_id] = self._classify(self._styles.get(style_id))
        return self._cache[style_id]

    def _classify(self, style: Any) -> tuple[BlockKind, int]:
        for _ in range(_STYLE_INHERITANCE_LIMIT):
            if style is None:
                break
            name = (style.name or "").strip()
            if name.lower() == "title":
                return "heading", 0
            match = _HEADING_STYLE.match(name)
            if match:
                return "heading", int(match.group(1))
            if name.lower().startswith("list"):
                return "list", 0
            style = style.base_style
        return "paragraph", 0


def _table_text(table: Any) -> str:
    rows: list[str] = []
    for row in table.iterchildren(f"{{{_W}}}tr"):
        cells = []
        for cell in row.iterchildren(f"{{{_W}}}tc"):
            texts = (_paragraph_text(p) for p in cell.iter(_PARAGRAPH))
            cells.append(" ".join(" ".join(t.split()) for t in texts if t))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _iso(value: object) -> str | None:
    return value.isoformat() if isinstance(value, dt.datetime) else None


def _open_document(path: Path) -> Any:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        return docx.Document(str(path))
    # lxml's XMLSyntaxError is a SyntaxError.
    except (PackageNotFoundError, KeyError, ValueError, SyntaxError) as exc:
        raise CorruptDocument(path, f"not a readable Word document: {exc}") from exc


def parse_docx(path: Path) -> ParsedDocument:
    require_nonempty_file(path)
    require_zip(path, "DOCX")
    document = _open_document(path)
    styles = _StyleKinds(document)
    headings: list[tuple[int, str]] = []
    blocks: list[TextBlock] = []
    for element in _body_elements(document.element.body):
        if element.tag == _TABLE:
            text = _table_text(element)
            path_now = tuple(t for _, t in headings)
            blocks.append(TextBlock(text=text, heading_path=path_now, kind="table"))
            continue
        text = _paragraph_text(element)
        if not text:
            continue
        kind, level = styles.kind(element.style)
        if kind == "heading":
            text = " ".join(text.split())
            while headings and headings[-1][0] >= level:
                headings.pop()
            headings.append((level, text))
        elif kind == "paragraph" and element.pPr is not None and element.pPr.numPr is not None:
            kind = "list"
        blocks.append(TextBlock(text=text, heading_path=tuple(t for _, t in headings), kind=kind))

    properties = document.core_properties
    first_heading = next((b.text for b in blocks if b.kind == "heading"), None)
    return finish_document(
        path,
        "docx",
        blocks,
        title=properties.title or first_heading,
        author=properties.author or None,
        created=_iso(properties.created),
        modified=_iso(properties.modified),
    )
