"""PDF and the other page-based formats PyMuPDF reads (EPUB, XPS, FB2, CBZ, MOBI).

Text comes page by page from ``page.get_text("blocks")``: one block per text
block on the page, lines joined with spaces and words hyphenated across a line
break joined again. Every block carries its 1-based page number. Lines repeated
at the top or bottom of most pages (running headers, page numbers) are dropped.
The outline (table of contents), when there is one, gives the heading paths.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allma_desktop.errors import (
    BrokenFontEncoding,
    CorruptDocument,
    EncryptedDocument,
    NoTextEvenWithOcr,
    NoTextLayer,
    OcrDataMissing,
)
from allma_desktop.services.documents import ocr
from allma_desktop.services.documents.files import (
    clean_title,
    finish_document,
    require_nonempty_file,
    title_fits_text,
)
from allma_desktop.services.documents.model import BlockKind, ParsedDocument, TextBlock
from allma_desktop.services.documents.sniff import require_pdf, require_zip
from allma_desktop.services.documents.text import clean_text

logger = logging.getLogger(__name__)

# file type -> extensions; the file type is also PyMuPDF's ``filetype`` name.
MUPDF_FORMATS: dict[str, tuple[str, ...]] = {
    "pdf": (".pdf",),
    "epub": (".epub",),
    "xps": (".xps", ".oxps"),
    "fb2": (".fb2",),
    "cbz": (".cbz",),
    "mobi": (".mobi",),
}
_ZIP_FORMATS = frozenset({"epub", "xps", "cbz"})
# Formats whose pages are fixed pictures of a page, so a page without text is worth OCR;
# an e-book's pages are its text laid out, and one without text is an illustration.
_OCR_FORMATS = frozenset({"pdf", "xps", "cbz"})
_STAMP_CHARACTERS = 40  # at most this much text on a page that is mostly a picture...
_SCAN_COVERAGE = 0.5  # ...covering at least this share of the page: a scan, read by OCR

_MARGIN_FRACTION = 0.08  # top and bottom 8% of a page hold running headers and footers
_MIN_PAGES_FOR_REPEATS = 4
_REPEAT_FRACTION = 0.5
_TITLE_SIZE_RATIO = 1.15
_TITLE_MAX_LENGTH = 200
_UNUSED_PYMUPDF_EXTRAS = ("pymupdf.layout", "pymupdf4llm")
_HYPHENATED_BREAK = re.compile(r"(?<=[^\W\d_])-\n(?=[a-zà-ÿ])")
_PDF_DATE = re.compile(
    r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?"
    r"\s*(?:(Z)|([+-])(\d{2})'?(\d{2})?'?)?"
)


@dataclass
class _PageBlock:
    page: int
    text: str
    in_margin: bool
    ocr: bool = False  # read by OCR from the page's picture


def pdf_date_to_iso(value: str | None) -> str | None:
    """``D:20240131093000+01'00'`` -> ``2024-01-31T09:30:00+01:00``; None when unparseable."""
    if not value:
        return None
    match = _PDF_DATE.match(value.strip())
    if match is None:
        try:
            return dt.datetime.fromisoformat(value.strip()).isoformat()
        except ValueError:
            return None
    year, month, day, hour, minute, second, zulu, sign, tz_hours, tz_minutes = match.groups()
    tzinfo: dt.tzinfo | None = None
    if zulu:
        tzinfo = dt.UTC
    elif sign:
        offset = dt.timedelta(hours=int(tz_hours), minutes=int(tz_minutes or 0))
        tzinfo = dt.timezone(-offset if sign == "-" else offset)
    try:
        moment = dt.datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            tzinfo=tzinfo,
        )
    except ValueError:
        return None
    return moment.isoformat()


def join_lines(raw: str) -> str:
    """A block's lines as one paragraph: hyphenated words rejoined, breaks become spaces."""
    text = clean_text(raw)
    if "-\n" in text:  # most blocks have no hyphen at a line end: no regex pass for them
        text = _HYPHENATED_BREAK.sub("", text)
    return " ".join(text.split())


def _mostly_unreadable(text: str) -> bool:
    """Text from fonts without a Unicode mapping comes out as U+FFFD; it says nothing."""
    unmapped = text.count("\ufffd")
    if not unmapped:  # the usual case, decided without a pass in Python over every character
        return not text or text.isspace()
    visible = sum(1 for char in text if not char.isspace())
    return unmapped * 2 > visible


def _repeat_key(text: str) -> str:
    """Running headers differ only by their page number."""
    return re.sub(r"\d+", "#", text.lower())


def _without_running_headers(blocks: list[_PageBlock], pages_with_text: int) -> list[_PageBlock]:
    if pages_with_text < _MIN_PAGES_FOR_REPEATS:
        return blocks
    pages_by_key: dict[str, set[int]] = {}
    for block in blocks:
        if block.in_margin:
            pages_by_key.setdefault(_repeat_key(block.text), set()).add(block.page)
    threshold = max(3, pages_with_text * _REPEAT_FRACTION)
    repeated = {key for key, pages in pages_by_key.items() if len(pages) >= threshold}
    if not repeated:
        return blocks
    kept = [b for b in blocks if not (b.in_margin and _repeat_key(b.text) in repeated)]
    return kept or blocks


def import_pymupdf() -> Any:
    """PyMuPDF, imported on first use (it is heavy) and typed loosely (its API is dynamic)."""
    if "pymupdf" not in sys.modules:
        # PyMuPDF 2 imports its layout analyser and pymupdf4llm when they are installed,
        # which load ONNX models and numpy (about +0.6 s CPU and +90 MB in every process
        # that reads a PDF); we use neither. A None entry in sys.modules makes PyMuPDF's
        # own ``try: import ... except ImportError`` skip them, as in the frozen app,
        # which leaves them out.
        for unused in _UNUSED_PYMUPDF_EXTRAS:
            sys.modules.setdefault(unused, None)  # type: ignore[arg-type]
    import pymupdf

    return pymupdf


def _text_page(page: Any) -> Any:
    """The page's extracted text, made once and read both as blocks and (for the title)
    as spans with font sizes: making it is most of the cost of reading a page."""
    return page.get_textpage(flags=import_pymupdf().TEXT_MEDIABOX_CLIP)


def _page_blocks(page: Any, text_page: Any, page_number: int) -> tuple[list[_PageBlock], bool]:
    """The page's readable text blocks, and whether it had text that is undecodable."""
    height = page.rect.height or 1.0
    blocks: list[_PageBlock] = []
    undecodable = False
    for x0, y0, x1, y1, raw, _number, block_type in page.get_text("blocks", textpage=text_page):
        del x0, x1
        if block_type != 0:
            continue
        text = join_lines(raw)
        if _mostly_unreadable(text):
            # Characters that decode to U+FFFD or to control codes (a font without a
            # Unicode mapping), not just white space: a broken encoding.
            undecodable = undecodable or bool(raw.strip())
            continue
        in_margin = y1 < height * _MARGIN_FRACTION or y0 > height * (1 - _MARGIN_FRACTION)
        blocks.append(_PageBlock(page_number, text, in_margin))
    return blocks, undecodable


def _recognised_blocks(
    page: Any, page_number: int, languages: str, tessdata: Path
) -> list[_PageBlock]:
    """The page's text as OCR reads it from the page's picture."""
    blocks: list[_PageBlock] = []
    for raw in ocr.recognise_page(page, languages, tessdata):
        text = join_lines(raw)
        if not _mostly_unreadable(text):
            blocks.append(_PageBlock(page_number, text, in_margin=False, ocr=True))
    return blocks


def _normalised(text: str) -> str:
    return " ".join(text.lower().split())


class _Outline:
    """Heading paths from the document's outline: entries switch the path on their page,
    at the block that starts with the entry's title (or at the top of the page)."""

    def __init__(self, document: Any) -> None:
        self.entries_by_page: dict[int, list[tuple[int, str]]] = {}
        self.headings: list[tuple[int, str]] = []
        try:
            toc = document.get_toc(simple=True)
        except Exception:  # a broken outline must not cost the text
            logger.debug("unreadable outline", exc_info=True)
            toc = []
        for level, title, page in toc:
            title = " ".join(str(title).split())
            if title and isinstance(page, int) and page >= 1:
                self.entries_by_page.setdefault(page, []).append((int(level), title))

    def blocks_for_page(self, page: int, blocks: list[_PageBlock]) -> Iterator[TextBlock]:
        switches: dict[int, list[tuple[int, str, bool]]] = {}
        search_from = 0
        for level, title in self.entries_by_page.get(page, []):
            wanted = _normalised(title)[:80]
            found = next(
                (
                    i
                    for i in range(search_from, len(blocks))
                    if _normalised(blocks[i].text).startswith(wanted)
                ),
                None,
            )
            is_heading_block = found is not None and len(blocks[found].text) <= len(title) + 8
            index = search_from if found is None else found
            search_from = index
            switches.setdefault(index, []).append((level, title, is_heading_block))
        path = tuple(title for _, title in self.headings)
        for index, block in enumerate(blocks):
            kind: BlockKind = "paragraph"
            if index in switches:
                for level, title, is_heading_block in switches[index]:
                    while self.headings and self.headings[-1][0] >= level:
                        self.headings.pop()
                    self.headings.append((level, title))
                    if is_heading_block:
                        kind = "heading"
                path = tuple(title for _, title in self.headings)
            yield TextBlock(
                text=block.text, page=block.page, heading_path=path, kind=kind, ocr=block.ocr
            )


def _has_letters(text: str, wanted: int) -> bool:
    """Whether ``text`` has ``wanted`` letters, looking no further than the last one needed."""
    for char in text:
        if char.isalpha():
            wanted -= 1
            if wanted == 0:
                return True
    return wanted <= 0


def _title_from_fonts(page: Any, text_page: Any) -> str | None:
    """The first page's largest text, when it is clearly larger than the body text."""
    lines: list[tuple[float, str]] = []
    for block in page.get_text("dict", textpage=text_page)["blocks"]:
        for line in block.get("lines", ()):
            spans = line.get("spans") or ()
            text = " ".join("".join(span["text"] for span in spans).split())
            if spans and _has_letters(text, 3):
                lines.append((max(float(span["size"]) for span in spans), text))
    if len(lines) < 2:
        return None
    sizes = sorted(size for size, _ in lines)
    biggest = sizes[-1]
    if biggest < sizes[len(sizes) // 2] * _TITLE_SIZE_RATIO:
        return None
    # A title set over several lines: the first run of lines in the biggest size.
    title_lines: list[str] = []
    for size, text in lines:
        if size >= biggest - 0.5:
            title_lines.append(text)
        elif title_lines:
            break
    title = " ".join(title_lines)
    looks_like_prose = title.endswith(".") or ". " in title  # large-print text, not a title
    return None if looks_like_prose or len(title) > _TITLE_MAX_LENGTH else title


def mupdf_errors() -> tuple[type[BaseException], ...]:
    """What PyMuPDF raises for damaged files: its own FzError* classes and RuntimeError."""
    return (RuntimeError, ValueError, import_pymupdf().mupdf.FzErrorBase)


def _error_detail(exc: BaseException, path: Path) -> str:
    detail = re.sub(r"^code=\d+: ", "", str(exc)) or type(exc).__name__
    return detail.replace(str(path), path.name)


def _open(path: Path, file_type: str) -> Any:
    pymupdf = import_pymupdf()
    # MuPDF reports repairs on stderr; the outcome reaches the user as our error instead.
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    if file_type == "pdf":
        require_pdf(path)
    elif file_type in _ZIP_FORMATS:
        require_zip(path, file_type.upper())
    try:
        return pymupdf.open(str(path), filetype=file_type)
    except mupdf_errors() as exc:
        raise CorruptDocument(path, _error_detail(exc, path)) from exc


@dataclass
class _PagedText:
    page_count: int
    blocks: list[_PageBlock]
    unreadable_pages: list[str]
    outline: _Outline
    metadata: dict[str, Any]
    title: str | None
    undecodable_pages: int = 0  # pages whose text layer is garbage (a broken font encoding)
    recognised_pages: int = 0  # pages given to OCR
    ocr_missing: bool = False  # OCR is on but its language data cannot be found


def _scan_with_a_stamp(page: Any, blocks: list[_PageBlock]) -> bool:
    """Whether a page with a little text (a page number or a stamp added to a scan) is
    mostly a picture: then its text layer is not what the page says, and OCR reads it."""
    if sum(len(block.text) for block in blocks) > _STAMP_CHARACTERS:
        return False
    area = abs(page.rect)
    if not area:
        return False
    covered = 0.0
    for image in page.get_image_info():
        covered += abs(page.rect & import_pymupdf().Rect(image["bbox"]))
    return bool(covered >= area * _SCAN_COVERAGE)


class _PageReader:
    """Reads a page's text layer, and has OCR read the pages where that gives nothing."""

    def __init__(self, page_count: int, file_type: str) -> None:
        self.page_count = page_count
        self.settings = ocr.current_settings()
        self.wanted = self.settings.enabled and file_type in _OCR_FORMATS
        self.tessdata = (
            ocr.tessdata_for(self.settings.languages, self.settings.own_folder)
            if self.wanted
            else None
        )
        self.undecodable_pages = 0
        self.recognised_pages = 0
        self.needed_ocr = False

    def blocks(self, page: Any, text_page: Any, page_number: int) -> list[_PageBlock]:
        blocks, undecodable = _page_blocks(page, text_page, page_number)
        if blocks:
            if self.tessdata is None or not _scan_with_a_stamp(page, blocks):
                return blocks
            return self._recognised(page, page_number) or blocks
        self.undecodable_pages += undecodable
        self.needed_ocr = True
        if self.tessdata is None:
            return blocks
        return self._recognised(page, page_number)

    def _recognised(self, page: Any, page_number: int) -> list[_PageBlock]:
        assert self.tessdata is not None
        if self.settings.on_page is not None:
            self.settings.on_page(page_number, self.page_count)
        self.recognised_pages += 1
        return _recognised_blocks(page, page_number, self.settings.languages, self.tessdata)


def _read_pages(document: Any, path: Path, file_type: str) -> _PagedText:
    """Text blocks of every page, one page in memory at a time; bad pages are skipped.

    A page without readable text (none, or only undecodable text) is read by OCR when
    it is on (``ocr.current_settings()``); pages with good text are left as they are.
    """
    if document.needs_pass and not document.authenticate(""):
        raise EncryptedDocument(path)
    page_count = document.page_count
    if page_count == 0:
        raise CorruptDocument(path, "no pages")
    outline = _Outline(document)
    metadata = document.metadata or {}
    title = clean_title(metadata.get("title"))
    title_wanted = title is None  # then the first page with text gives one, if it can
    title_checked = False  # against the first page with text
    blocks: list[_PageBlock] = []
    unreadable_pages: list[str] = []
    reader = _PageReader(page_count, file_type)
    for index in range(page_count):
        try:
            page = document.load_page(index)
            text_page = _text_page(page)
            page_blocks = reader.blocks(page, text_page, index + 1)
        except mupdf_errors() as exc:
            unreadable_pages.append(f"page {index + 1}: {_error_detail(exc, path)}")
            continue
        if title is not None and not title_checked and page_blocks:
            title_checked = True
            opening = " ".join(block.text for block in page_blocks)
            if not title_fits_text(title, opening):
                title, title_wanted = None, True  # a template's or another file's title
        if title_wanted and page_blocks and not page_blocks[0].ocr:
            title_wanted = False
            with contextlib.suppress(*mupdf_errors()):
                title = _title_from_fonts(page, text_page)
        blocks.extend(page_blocks)
    if reader.recognised_pages:
        logger.info(
            "%s: %d of %d pages read by OCR", path.name, reader.recognised_pages, page_count
        )
    return _PagedText(
        page_count,
        blocks,
        unreadable_pages,
        outline,
        metadata,
        title,
        undecodable_pages=reader.undecodable_pages,
        recognised_pages=reader.recognised_pages,
        ocr_missing=reader.needed_ocr and reader.wanted and reader.tessdata is None,
    )


def _no_text_error(path: Path, paged: _PagedText) -> NoTextLayer:
    """Why a document gave no text at all, in the words that fit its pages."""
    if paged.recognised_pages:
        return NoTextEvenWithOcr(path)
    if paged.ocr_missing:
        return OcrDataMissing(path)
    if paged.undecodable_pages:
        return BrokenFontEncoding(path)
    return NoTextLayer(path)


def parse_paged(path: Path, file_type: str) -> ParsedDocument:
    """Read any format PyMuPDF opens; ``file_type`` is a key of ``MUPDF_FORMATS``."""
    require_nonempty_file(path)
    with _open(path, file_type) as document:
        try:
            paged = _read_pages(document, path, file_type)
        except mupdf_errors() as exc:
            raise CorruptDocument(path, _error_detail(exc, path)) from exc
    if paged.unreadable_pages:
        logger.info("%s: %d unreadable page(s)", path, len(paged.unreadable_pages))
    if not paged.blocks:
        if len(paged.unreadable_pages) == paged.page_count:
            raise CorruptDocument(path, f"no page could be read ({paged.unreadable_pages[0]})")
        raise _no_text_error(path, paged)

    pages_with_text = len({block.page for block in paged.blocks})
    page_blocks = _without_running_headers(paged.blocks, pages_with_text)
    blocks: list[TextBlock] = []
    for page, group in _group_by_page(page_blocks):
        blocks.extend(paged.outline.blocks_for_page(page, group))
    metadata = paged.metadata
    return finish_document(
        path,
        file_type,
        blocks,
        title=paged.title,
        author=metadata.get("author") or None,
        created=pdf_date_to_iso(metadata.get("creationDate")),
        modified=pdf_date_to_iso(metadata.get("modDate")),
        page_count=paged.page_count,
    )


def _group_by_page(blocks: list[_PageBlock]) -> Iterator[tuple[int, list[_PageBlock]]]:
    group: list[_PageBlock] = []
    for block in blocks:
        if group and block.page != group[0].page:
            yield group[0].page, group
            group = []
        group.append(block)
    if group:
        yield group[0].page, group


def parser_for_format(file_type: str) -> Callable[[Path], ParsedDocument]:
    if file_type not in MUPDF_FORMATS:
        raise ValueError(f"PyMuPDF does not read {file_type!r}")

    def parse(path: Path) -> ParsedDocument:
        return parse_paged(path, file_type)

    parse.__name__ = f"parse_{file_type}"
    parse.__doc__ = f"Parse a {file_type.upper()} file with PyMuPDF, page by page."
    return parse


parse_pdf = parser_for_format("pdf")
