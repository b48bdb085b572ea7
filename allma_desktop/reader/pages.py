"""What the built-in reader shows: pages drawn by PyMuPDF, and where a cited passage is on them.

A chunk remembers its page and its character span in the document's parsed text;
the parser joins lines and drops running headers, so the span does not index the
page's own text. The passage is found on its page by aligning its words with the
page's words (``page.get_text("words")``, the same text layer the parser read):
the longest run of words they share, grown to the runs around it that keep the
passage's order. The boxes of those words are what the reader highlights.

A passage that OCR read (a scanned page, a picture) has no text layer to match: its
page is read again by the same engine, at the same resolution (``services/documents/
ocr.py``), and the passage aligned with the words OCR finds on the page's picture.

Text formats (Word, Markdown, HTML, plain text) are shown as their parsed text,
where the stored span indexes exactly (``ParsedDocument.full_text``).

Nothing here is thread-safe: MuPDF objects are used from one worker thread.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from allma_desktop.records import Box
from allma_desktop.services.documents import images
from allma_desktop.services.documents.pdf import MUPDF_FORMATS, import_pymupdf

# Pictures (PNG, JPEG, TIFF, WebP, ...) are pages too: each image shown as it is.
PAGED_TYPES = frozenset(MUPDF_FORMATS) | {images.FILE_TYPE}
_PAGED_SUFFIXES = frozenset(images.EXTENSIONS).union(*MUPDF_FORMATS.values())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Runs of shared words this far apart (in page words, beyond the passage's own gap)
# still belong to one passage: a hyphenated or re-ordered word breaks a run.
_GAP_SLACK = 6
_KEPT_PAGES = 16  # pages whose words are kept, per document

OcrReading = tuple[str, str | None]
"""How a page was read by OCR: its languages ("eng+deu") and the app's own folder of
added languages (None: the packaged English alone)."""


@dataclass(frozen=True)
class PageWord:
    text: str
    box: Box


@dataclass(frozen=True)
class RenderedPage:
    """A page drawn as RGB pixels (no alpha), ``scale`` pixels per point."""

    page: int  # 1-based
    width: int
    height: int
    stride: int
    samples: bytes
    scale: float


def is_paged(file_type: str, path: str = "") -> bool:
    """Whether the reader shows this file as pages (else as text)."""
    if file_type:
        return file_type in PAGED_TYPES
    return Path(path).suffix.lower() in _PAGED_SUFFIXES


def normal_words(text: str) -> list[str]:
    """Words for matching: lower-cased runs of letters and digits (punctuation dropped)."""
    return _WORD.findall(text.lower())


def align_passage(page_words: Sequence[str], passage: str) -> range:
    """The indexes of ``page_words`` (already normalised) that show ``passage``; empty if none.

    ``page_words`` are the page's words in reading order, each normalised with
    ``normal_words`` (a page word such as "(MuPDF)" may give one or more words; pass
    one entry per page word, joined).
    """
    wanted = normal_words(passage)
    if not wanted or not page_words:
        return range(0)
    matcher = SequenceMatcher(None, list(page_words), wanted, autojunk=False)
    blocks = [block for block in matcher.get_matching_blocks() if block.size]
    if not blocks:
        return range(0)
    longest = max(range(len(blocks)), key=lambda i: blocks[i].size)
    if blocks[longest].size < min(3, len(wanted)):
        return range(0)
    first = last = longest
    while first > 0:
        before, here = blocks[first - 1], blocks[first]
        if here.a - (before.a + before.size) > here.b - (before.b + before.size) + _GAP_SLACK:
            break
        first -= 1
    while last + 1 < len(blocks):
        here, after = blocks[last], blocks[last + 1]
        if after.a - (here.a + here.size) > after.b - (here.b + here.size) + _GAP_SLACK:
            break
        last += 1
    return range(blocks[first].a, blocks[last].a + blocks[last].size)


class PagedDocument:
    """A PDF (or EPUB, XPS, ...) open for reading: page sizes, pictures, words, search."""

    def __init__(self, path: str | Path) -> None:
        pymupdf = import_pymupdf()
        self.path = str(path)
        self._pymupdf = pymupdf
        if Path(path).suffix.lower() in images.EXTENSIONS:  # WebP through Pillow
            self._document: Any = images.open_picture(Path(path))
        else:
            self._document = pymupdf.open(self.path)
        self._words: dict[int, list[PageWord]] = {}
        self._ocr_words: dict[tuple[int, OcrReading], list[PageWord]] = {}

    @property
    def page_count(self) -> int:
        return int(self._document.page_count)

    def close(self) -> None:
        self._document.close()

    def page_size(self, page: int) -> tuple[float, float]:
        rect = self._document[page - 1].rect
        return float(rect.width), float(rect.height)

    def render(self, page: int, scale: float) -> RenderedPage:
        matrix = self._pymupdf.Matrix(scale, scale)
        pixmap = self._document[page - 1].get_pixmap(matrix=matrix, alpha=False)
        return RenderedPage(
            page, pixmap.width, pixmap.height, pixmap.stride, bytes(pixmap.samples), scale
        )

    def words(self, page: int) -> list[PageWord]:
        found = self._words.get(page)
        if found is None:
            raw = self._document[page - 1].get_text("words", sort=False)
            found = [PageWord(str(w[4]), Box(w[0], w[1], w[2], w[3])) for w in raw]
            if len(self._words) > _KEPT_PAGES:
                self._words.pop(next(iter(self._words)))
            self._words[page] = found
        return found

    def ocr_words(self, page: int, reading: OcrReading) -> list[PageWord]:
        """The words OCR reads on ``page``'s picture, as the parser read them (whole page,
        the same resolution and languages); empty when the language data is missing."""
        key = (page, reading)
        found = self._ocr_words.get(key)
        if found is None:
            from allma_desktop.services.documents.ocr import ocr_dpi, tessdata_for

            languages, own_folder = reading
            tessdata = tessdata_for(languages, Path(own_folder) if own_folder else None)
            found = []
            if tessdata is not None:
                sheet = self._document[page - 1]
                textpage = sheet.get_textpage_ocr(
                    language=languages,
                    dpi=ocr_dpi(sheet.rect.width, sheet.rect.height),
                    full=True,
                    tessdata=str(tessdata),
                )
                raw = sheet.get_text("words", textpage=textpage, sort=False)
                found = [PageWord(str(w[4]), Box(w[0], w[1], w[2], w[3])) for w in raw]
            if len(self._ocr_words) > _KEPT_PAGES:
                self._ocr_words.pop(next(iter(self._ocr_words)))
            self._ocr_words[key] = found
        return found

    def page_text(self, page: int) -> str:
        return str(self._document[page - 1].get_text())

    def passage_boxes(self, page: int, passage: str, ocr: OcrReading | None = None) -> list[Box]:
        """The boxes of the words of ``page`` that show ``passage`` (empty if not found);
        ``ocr``: the passage was read by OCR this way, so the page's picture is read again."""
        words = self.words(page) if ocr is None else self.ocr_words(page, ocr)
        keys, flat, owner = _flatten(words)
        span = align_passage(flat, passage)
        if not span:
            return []
        chosen = sorted({owner[i] for i in span})
        return [words[i].box for i in range(chosen[0], chosen[-1] + 1) if keys[i]]

    def ocr_search(self, page: int, text: str, reading: OcrReading) -> list[Box]:
        """The boxes of every run of words on ``page``'s picture (read by OCR) that says
        ``text``, case and punctuation aside; empty when none does."""
        wanted = normal_words(text)
        words = self.ocr_words(page, reading)
        _keys, flat, owner = _flatten(words)
        boxes: list[Box] = []
        if not wanted:
            return boxes
        for start in range(len(flat) - len(wanted) + 1):
            if flat[start : start + len(wanted)] == wanted:
                owners = dict.fromkeys(owner[start : start + len(wanted)])
                boxes.extend(words[i].box for i in owners)
        return boxes

    def search(self, text: str, start_page: int, backwards: bool = False) -> tuple[int, list[Box]]:
        """The first page from ``start_page`` (wrapping around) that holds ``text``, with the
        boxes of its hits; (0, []) when no page does."""
        count = self.page_count
        step = -1 if backwards else 1
        for offset in range(count):
            page = (start_page - 1 + step * offset) % count + 1
            hits = self._document[page - 1].search_for(text)
            if hits:
                return page, [Box(r.x0, r.y0, r.x1, r.y1) for r in hits]
        return 0, []


def _flatten(words: Sequence[PageWord]) -> tuple[list[str], list[str], list[int]]:
    """Each page word's normal form; those forms split into single words (a page word such
    as "e.g." gives several); and for each single word, the page word it came from."""
    keys = [" ".join(normal_words(word.text)) for word in words]
    flat: list[str] = []
    owner: list[int] = []
    for index, key in enumerate(keys):
        for part in key.split() or [""]:
            flat.append(part)
            owner.append(index)
    return keys, flat, owner


def text_span(full_text: str, passage: str, char_start: int, char_end: int) -> tuple[int, int]:
    """Where ``passage`` is in ``full_text``: its stored span when the text there is still the
    passage (or, for a source's snippet, begins with it), else its first occurrence;
    (0, 0) when the text no longer holds it."""
    if 0 <= char_start < char_end <= len(full_text) and _shows(
        full_text[char_start:char_end], passage
    ):
        return char_start, char_end
    found = full_text.find(passage) if passage else -1
    if found >= 0:
        return found, found + len(passage)
    return 0, 0


def _shows(text: str, passage: str) -> bool:
    """Whether ``text`` is ``passage``, or begins with it as a snippet shows it (its
    whitespace flattened, cut with "…": ``retrieval.rag.make_snippet``)."""
    if text == passage:
        return True
    shown = " ".join(passage.split()).removesuffix("…").rstrip()
    return bool(shown) and " ".join(text.split()).startswith(shown)
