"""Markdown: rendered to HTML by the ``markdown`` package, then read like a web page.

Rendering handles ATX and setext headings, fenced and indented code, lists,
tables and links (their text is kept) the way Markdown readers expect; the HTML
reader then turns headings into each block's heading path.
"""

from __future__ import annotations

import re
from pathlib import Path

from allma_desktop.services.documents.files import finish_document, require_nonempty_file
from allma_desktop.services.documents.html import first_heading, html_content
from allma_desktop.services.documents.model import ParsedDocument, TextBlock
from allma_desktop.services.documents.text import iter_paragraphs, read_text

EXTENSIONS = (".md", ".markdown", ".mdown", ".mkd", ".mkdn")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.DOTALL)
_FRONT_MATTER_TITLE = re.compile(r"^title:[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def split_front_matter(text: str) -> tuple[str | None, str]:
    """The title from a YAML front matter block (if any) and the Markdown after it."""
    match = _FRONT_MATTER.match(text)
    if match is None:
        return None, text
    title_match = _FRONT_MATTER_TITLE.search(match.group(1))
    title = title_match.group(1).strip("\"'") if title_match else None
    return title or None, text[match.end() :]


def markdown_blocks(text: str) -> list[TextBlock]:
    import markdown

    rendered = markdown.markdown(text, extensions=["fenced_code", "tables", "sane_lists"])
    return html_content(rendered).blocks


def parse_markdown(path: Path) -> ParsedDocument:
    require_nonempty_file(path)
    title, body = split_front_matter(read_text(path))
    try:
        blocks = markdown_blocks(body)
    except RecursionError:
        # Pathological nesting (thousands of '>' quotes) defeats the renderer: keep the text.
        blocks = [TextBlock(text=paragraph) for paragraph in iter_paragraphs(path)]
    return finish_document(path, "markdown", blocks, title=title or first_heading(blocks))
