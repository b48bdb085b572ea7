"""Model output to safe, styled HTML for QTextDocument: Markdown, code colours, citations.

Safety: raw HTML in the text is shown as text (the Markdown HTML parsers are switched
off), images never load (they become their alt text), and only http(s), file and
our own ``cite:`` links survive; everything else loses its link.

Colours come from the theme's palette (``gui/theme.py``'s ``Colors``: ``current_colors()``).

``markdown`` and ``bs4`` are imported on the first render, not with this module: the
main window imports it, and its first frame should not wait for them (~0.15 s).
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import markdown
    from bs4 import BeautifulSoup, Tag

    from allma_desktop.gui.theme import Colors

ALLOWED_TAGS = frozenset(
    [
        "p",
        "br",
        "strong",
        "em",
        "b",
        "i",
        "code",
        "pre",
        "ul",
        "ol",
        "li",
        "blockquote",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
        "hr",
        "del",
        "s",
        "sup",
        "sub",
        "span",
    ]
)
ALLOWED_LINK_SCHEMES = ("http://", "https://", "file:", "cite:")
CITATION = re.compile(r"\[(\d{1,3})\]")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)", re.MULTILINE)
# A line that may continue the block before it across a blank line: indented text, or
# a list item (a loose list). A block boundary is never placed before one.
_CONTINUES_BLOCK = re.compile(r"^(?:[ \t]|[-*+][ \t]|\d{1,9}[.)][ \t])")


def stylesheet(colors: Colors) -> str:
    """The default stylesheet for a message's QTextDocument (Qt supports a CSS subset)."""
    return f"""
        body {{ color: {colors.text}; }}
        a {{ color: {colors.link}; text-decoration: none; }}
        a.cite {{ font-weight: 600; }}
        code {{ font-family: 'JetBrains Mono', 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace;
                background-color: {colors.inline_code_background}; }}
        pre {{ font-family: 'JetBrains Mono', 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace;
               margin: 0; white-space: pre-wrap; }}
        h1 {{ font-size: x-large; margin-top: 10px; margin-bottom: 6px; }}
        h2 {{ font-size: large; margin-top: 10px; margin-bottom: 6px; }}
        h3, h4, h5, h6 {{ font-size: medium; margin-top: 8px; margin-bottom: 4px; }}
        p {{ margin-top: 0; margin-bottom: 8px; }}
        li {{ margin-bottom: 2px; }}
        blockquote {{ color: {colors.muted}; margin-left: 12px; }}
        th {{ font-weight: 600; }}
        .code-lang {{ color: {colors.muted}; font-size: small; }}
    """


def render_markdown(text: str, colors: Colors, *, streaming: bool = False) -> str:
    """HTML for ``text``; ``streaming`` closes a code fence still being written."""
    if streaming and len(_FENCE.findall(text)) % 2 == 1:
        text += "\n```"
    from bs4 import BeautifulSoup

    converted = _converter().reset().convert(text)
    soup = BeautifulSoup(converted, "html.parser")
    _sanitize(soup)
    _highlight_code_blocks(soup, colors)
    _style_tables(soup, colors)
    _link_citations(soup)
    return str(soup)


def stable_prefix_end(text: str, start: int = 0) -> int:
    """Where the Markdown blocks of ``text[start:]`` that can no longer change end.

    A streamed answer only grows, so a block followed by a blank line and then a new,
    complete line that starts a fresh top-level block (not indented, not a list item,
    not inside a code fence) renders the same whatever comes next. Returns the offset
    of the last such new line (``start`` when there is none); ``text[start]`` must not
    be inside a code fence. The whole text is rendered once more when the answer ends,
    so a rare construct this misses (a link reference defined later) is set right then.
    """
    boundary = start
    in_fence = False
    after_blank = False
    position = start
    while True:
        newline = text.find("\n", position)
        if newline < 0:
            return boundary  # the last line is still being written
        line = text[position:newline]
        if _FENCE.match(line):
            if not in_fence and after_blank:
                boundary = position
            in_fence = not in_fence
            after_blank = False
        elif not in_fence:
            if not line.strip():
                after_blank = True
            else:
                if after_blank and not _CONTINUES_BLOCK.match(line):
                    boundary = position
                after_blank = False
        position = newline + 1


def load_renderer() -> None:
    """Import the Markdown and HTML libraries now; the app calls this from a worker
    thread at start, so the first streamed answer does not pause to import them."""
    import bs4  # noqa: F401

    _converter()


def render_plain(text: str) -> str:
    """A user's own message: shown as typed, line breaks kept, never interpreted."""
    return "<p>" + html.escape(text).replace("\n", "<br>") + "</p>"


@lru_cache(maxsize=1)
def _converter() -> markdown.Markdown:
    import markdown

    converter = markdown.Markdown(extensions=["fenced_code", "tables", "sane_lists"])
    # Raw HTML in model output is text, not markup: drop the two parsers that pass it through.
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    return converter


def _sanitize(soup: BeautifulSoup) -> None:
    from bs4.element import NavigableString

    for image in soup.find_all("img"):
        alt = image.get("alt") or "image"
        image.replace_with(NavigableString(f"[{alt}]"))
    for element in soup.find_all(True):
        if element.name not in ALLOWED_TAGS:
            element.unwrap()
            continue
        href = element.get("href") if element.name == "a" else None
        languages = [c for c in element.get("class") or [] if c.startswith("language-")]
        keep_language = element.name == "code" and languages
        element.attrs = {"class": languages[0]} if keep_language else {}
        if element.name == "a":
            if isinstance(href, str) and href.strip().lower().startswith(ALLOWED_LINK_SCHEMES):
                element.attrs = {"href": href.strip()}
            else:
                element.unwrap()


def _style_tables(soup: BeautifulSoup, colors: Colors) -> None:
    for table in soup.find_all("table"):
        if table.get("class") == ["code"]:
            continue
        table.attrs = {
            "border": "1",
            "cellspacing": "0",
            "cellpadding": "6",
            "style": f"border-color: {colors.table_border}; border-style: solid;"
            " margin-bottom: 8px;",
        }


def _highlight_code_blocks(soup: BeautifulSoup, colors: Colors) -> None:
    """Put each code block in a padded, tinted box (a one-cell table: QTextDocument's way)."""
    from bs4 import BeautifulSoup, Tag

    for pre in soup.find_all("pre"):
        code = pre.find("code")
        source = code.get_text() if isinstance(code, Tag) else pre.get_text()
        language = _language_of(code)
        highlighted = highlight(source.rstrip("\n"), language, colors)
        label = f'<span class="code-lang">{html.escape(language)}</span>' if language else ""
        box = BeautifulSoup(
            f'<table class="code" width="100%" cellspacing="0" cellpadding="10" '
            f'style="background-color: {colors.code_background}; border-color: '
            f'{colors.code_border}; border-style: solid; margin-bottom: 8px;" border="1">'
            f"<tr><td>{label}<pre>{highlighted}</pre></td></tr></table>",
            "html.parser",
        )
        pre.replace_with(box)


def _language_of(code: Tag | object | None) -> str:
    from bs4 import Tag

    if not isinstance(code, Tag):
        return ""
    classes: object = code.get("class") or []
    for css_class in [classes] if isinstance(classes, str) else list(classes):  # type: ignore[call-overload]
        if isinstance(css_class, str) and css_class.startswith("language-"):
            return str(css_class.removeprefix("language-")).lower()
    return ""


def _link_citations(soup: BeautifulSoup) -> None:
    """Turn "[2]" in the answer into a link that shows source 2 (not inside code or links)."""
    from bs4 import BeautifulSoup

    for node in list(soup.find_all(string=CITATION)):
        if node.find_parent(["code", "pre", "a"]) is not None:
            continue
        parts = CITATION.split(str(node))
        fragment = ""
        for position, part in enumerate(parts):
            if position % 2:
                fragment += f'<a class="cite" href="cite:{part}">[{part}]</a>'
            else:
                fragment += html.escape(part)
        node.replace_with(BeautifulSoup(fragment, "html.parser"))


# --- a small syntax highlighter ---------------------------------------------------------

_KEYWORDS = {
    "python": "and as assert async await break class continue def del elif else except False "
    "finally for from global if import in is lambda None nonlocal not or pass raise return "
    "True try while with yield match case self",
    "javascript": "async await break case catch class const continue default delete do else "
    "export extends false finally for function if import in instanceof let new null return "
    "super switch this throw true try typeof undefined var void while yield of",
    "rust": "as async await break const continue crate else enum extern false fn for if impl "
    "in let loop match mod move mut pub ref return self Self static struct super trait true "
    "type unsafe use where while",
    "go": "break case chan const continue default defer else fallthrough for func go goto if "
    "import interface map package range return select struct switch type var nil true false",
    "c": "auto break case char const continue default do double else enum extern float for "
    "goto if int long register return short signed sizeof static struct switch typedef union "
    "unsigned void volatile while class public private protected new delete template "
    "namespace using true false nullptr bool",
    "shell": "if then else elif fi for while do done case esac function in export local "
    "return echo cd exit sudo",
    "sql": "select from where and or not insert into values update set delete create table "
    "drop alter join left right inner outer on group by order having limit as distinct null "
    "primary key index",
}
_ALIASES = {
    "py": "python",
    "python3": "python",
    "js": "javascript",
    "ts": "javascript",
    "typescript": "javascript",
    "jsx": "javascript",
    "tsx": "javascript",
    "java": "c",
    "cpp": "c",
    "c++": "c",
    "csharp": "c",
    "cs": "c",
    "kotlin": "c",
    "swift": "c",
    "bash": "shell",
    "sh": "shell",
    "zsh": "shell",
    "console": "shell",
    "rs": "rust",
    "golang": "go",
}
_HASH_COMMENTS = {"python", "shell"}
_TOKEN_PATTERNS = {
    "hash": re.compile(
        r"(?P<comment>#[^\n]*)"
        r"|(?P<string>\"\"\"[\s\S]*?(?:\"\"\"|$)|'''[\s\S]*?(?:'''|$)"
        r"|\"(?:\\.|[^\"\\\n])*\"?|'(?:\\.|[^'\\\n])*'?)"
        r"|(?P<number>\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b)"
        r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    ),
    "slash": re.compile(
        r"(?P<comment>//[^\n]*|/\*[\s\S]*?(?:\*/|$)|--[^\n]*)"
        r"|(?P<string>\"(?:\\.|[^\"\\\n])*\"?|'(?:\\.|[^'\\\n])*'?|`(?:\\.|[^`\\])*`?)"
        r"|(?P<number>\b\d[\d_]*(?:\.\d+)?(?:e[+-]?\d+)?\b)"
        r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    ),
}


def highlight(source: str, language: str, colors: Colors) -> str:
    """Escaped HTML of ``source`` with keywords, strings, comments and numbers coloured."""
    family = _ALIASES.get(language, language)
    keywords = _KEYWORDS.get(family)
    if keywords is None and language not in {"", "json", "yaml", "toml"}:
        return html.escape(source)
    if keywords is None:
        keyword_set: frozenset[str] = frozenset({"true", "false", "null"})
    else:
        keyword_set = frozenset(keywords.split())
    case_insensitive = family == "sql"
    if case_insensitive:
        keyword_set = frozenset(word.lower() for word in keyword_set)
    pattern = _TOKEN_PATTERNS["hash" if family in _HASH_COMMENTS or family == "yaml" else "slash"]
    if family == "sql":
        pattern = _TOKEN_PATTERNS["slash"]
    out: list[str] = []
    position = 0
    for match in pattern.finditer(source):
        out.append(html.escape(source[position : match.start()]))
        token = match.group(0)
        kind = match.lastgroup
        color: str | None = None
        if kind == "comment":
            color = colors.code_comment
        elif kind == "string":
            color = colors.code_string
        elif kind == "number":
            color = colors.code_number
        elif kind == "word":
            word = token.lower() if case_insensitive else token
            if word in keyword_set:
                color = colors.code_keyword
            elif source[match.end() : match.end() + 1] == "(":
                color = colors.code_function
        escaped = html.escape(token)
        out.append(f'<span style="color: {color};">{escaped}</span>' if color else escaped)
        position = match.end()
    out.append(html.escape(source[position:]))
    return "".join(out)
