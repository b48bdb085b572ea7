"""HTML pages (and rendered Markdown): headings, paragraphs, lists, code and tables.

The tree is walked with an explicit stack, not recursion, so a page nested a
hundred thousand levels deep is read like any other; if the parser itself gives
up on one, the text is taken with a flat tag-strip instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from allma_desktop.services.documents.files import finish_document, require_nonempty_file
from allma_desktop.services.documents.model import BlockKind, ParsedDocument, TextBlock
from allma_desktop.services.documents.text import clean_text

EXTENSIONS = (".html", ".htm", ".xhtml")

_SKIPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "head", "title", "svg", "math", "iframe", "object",
     "canvas", "select", "button", "textarea"}
)  # fmt: skip
# Tags that sit inside running text; every other tag ends the text before it.
_INLINE_TAGS = frozenset(
    {"a", "abbr", "acronym", "b", "bdi", "bdo", "big", "cite", "code", "data", "del", "dfn",
     "em", "font", "i", "img", "input", "ins", "kbd", "label", "mark", "nobr", "q", "rp", "rt",
     "ruby", "s", "samp", "small", "span", "strike", "strong", "sub", "sup", "time", "tt", "u",
     "var", "wbr", "br", "output", "meter", "progress"}
)  # fmt: skip
_HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}


@dataclass
class HtmlContent:
    blocks: list[TextBlock]
    title: str | None = None
    author: str | None = None


def _collapse(text: str) -> str:
    return " ".join(clean_text(text).split())


def _code_text(text: str) -> str:
    lines = [line.rstrip() for line in clean_text(text).split("\n")]
    return "\n".join(lines).strip("\n")


@dataclass
class _BlockCollector:
    """Turns the walk's events into blocks and keeps the heading path."""

    blocks: list[TextBlock] = field(default_factory=list)
    headings: list[tuple[int, str]] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    def path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self.headings)

    def add_text(self, text: str) -> None:
        self.pending.append(text)

    def flush(self, kind: BlockKind, heading_level: int = 0) -> None:
        text = _collapse("".join(self.pending))
        self.pending.clear()
        if not text:
            return
        if kind == "heading":
            while self.headings and self.headings[-1][0] >= heading_level:
                self.headings.pop()
            self.headings.append((heading_level, text))
        self.blocks.append(TextBlock(text=text, heading_path=self.path(), kind=kind))

    def add_block(self, text: str, kind: BlockKind) -> None:
        if text.strip():
            self.blocks.append(TextBlock(text=text, heading_path=self.path(), kind=kind))


def _table_text(table: Any) -> str:
    rows: list[str] = []
    for row in table.find_all("tr"):
        cells = [_collapse(cell.get_text(" ")) for cell in row.find_all(["td", "th"])]
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _block_kind(name: str) -> tuple[BlockKind, int]:
    if name in _HEADING_LEVELS:
        return "heading", _HEADING_LEVELS[name]
    if name == "li":
        return "list", 0
    return "paragraph", 0


def _walk(root: Any) -> list[TextBlock]:
    from bs4.element import CData, NavigableString, Tag

    collector = _BlockCollector()
    open_blocks: list[tuple[BlockKind, int]] = [("paragraph", 0)]
    leave = object()
    stack: list[Any] = [root]
    while stack:
        node = stack.pop()
        if node is leave:
            collector.flush(*open_blocks.pop())
            continue
        if isinstance(node, NavigableString):
            # Comments, doctypes and processing instructions are strings too, but not text.
            if type(node) is NavigableString or isinstance(node, CData):
                collector.add_text(str(node))
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if name in _SKIPPED_TAGS:
            continue
        if name == "br":
            collector.add_text("\n")
            continue
        if name in _INLINE_TAGS:
            stack.extend(reversed(node.contents))
            continue
        collector.flush(*open_blocks[-1])
        if name == "table":
            collector.add_block(_table_text(node), "table")
        elif name == "pre":
            collector.add_block(_code_text(node.get_text()), "code")
        else:
            open_blocks.append(_block_kind(name))
            stack.append(leave)
            stack.extend(reversed(node.contents))
    collector.flush(*open_blocks[-1])
    return collector.blocks


class _TagStripper(HTMLParser):
    """Last resort for pages too deep for the tree builder: text between tags, by paragraph."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping += 1
        elif tag not in _INLINE_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag not in _INLINE_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def _stripped_blocks(html_text: str) -> list[TextBlock]:
    stripper = _TagStripper()
    stripper.feed(html_text)
    stripper.close()
    paragraphs = re.split(r"\n\s*\n", "".join(stripper.parts))
    return [TextBlock(text=_collapse(p)) for p in paragraphs if p.strip()]


def _meta_author(soup: Any) -> str | None:
    tag = soup.find("meta", attrs={"name": re.compile(r"^author$", re.IGNORECASE)})
    content = tag.get("content") if tag is not None else None
    return content if isinstance(content, str) else None


def html_content(markup: str | bytes) -> HtmlContent:
    """Blocks, title and author of an HTML document (text or bytes, whose charset it detects)."""
    from bs4 import BeautifulSoup

    try:
        soup = BeautifulSoup(markup, "html.parser")
        title_tag = soup.find("title")
        title = _collapse(title_tag.get_text()) if title_tag is not None else None
        body = soup.body or soup
        return HtmlContent(_walk(body), title or None, _meta_author(soup))
    except RecursionError:
        text = markup if isinstance(markup, str) else markup.decode("utf-8", errors="replace")
        return HtmlContent(_stripped_blocks(text))


def first_heading(blocks: list[TextBlock]) -> str | None:
    return next((block.text for block in blocks if block.kind == "heading"), None)


def parse_html(path: Path) -> ParsedDocument:
    require_nonempty_file(path)
    # Bytes, not text: BeautifulSoup honours the page's own <meta charset>.
    content = html_content(path.read_bytes())
    return finish_document(
        path,
        "html",
        content.blocks,
        title=content.title or first_heading(content.blocks),
        author=content.author,
    )
