"""Pictures as documents: screenshots, photos of receipts and whiteboards, scanned letters.

PyMuPDF opens an image as a document of pages (a multi-page TIFF has one page per
image); OCR reads each page, and each page is a citable page. MuPDF does not read WebP:
Pillow decodes those (each frame a page). With OCR off a picture gives no text, and the
file fails saying so.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from allma_desktop.errors import CorruptDocument, NoTextEvenWithOcr, OcrDataMissing, PictureNeedsOcr
from allma_desktop.services.documents import ocr
from allma_desktop.services.documents.files import finish_document, require_nonempty_file
from allma_desktop.services.documents.model import ParsedDocument, TextBlock
from allma_desktop.services.documents.pdf import import_pymupdf, join_lines, mupdf_errors
from allma_desktop.services.documents.sniff import read_head, sniff_format

logger = logging.getLogger(__name__)

FILE_TYPE = "image"
# extension -> PyMuPDF's name for the format
EXTENSIONS: dict[str, str] = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".tif": "tiff",
    ".tiff": "tiff",
    ".webp": "webp",
    ".bmp": "bmp",
    ".gif": "gif",
}
_PILLOW_EXTENSIONS = frozenset({".webp"})  # formats MuPDF does not read
_DEFAULT_PIXELS_PER_INCH = 96.0  # a screen's, for pictures that do not say
_PICTURE_LABELS = frozenset({"PNG image", "JPEG image", "GIF image", "TIFF image", "WebP image"})


def _require_picture(path: Path) -> None:
    """Refuse a file named like a picture that is clearly something else (a PDF, a zip)."""
    found = sniff_format(read_head(path))
    if found is not None and found not in _PICTURE_LABELS:
        raise CorruptDocument(path, f"not a picture (looks like {found})")


def open_picture(path: Path) -> Any:
    """The picture as a PyMuPDF document, a page per image (the reader shows these pages)."""
    return _open(path)


def _open(path: Path) -> Any:
    pymupdf = import_pymupdf()
    pymupdf.TOOLS.mupdf_display_errors(False)
    pymupdf.TOOLS.mupdf_display_warnings(False)
    if path.suffix.lower() in _PILLOW_EXTENSIONS:
        return _open_with_pillow(path, pymupdf)
    try:
        return pymupdf.open(str(path), filetype=EXTENSIONS.get(path.suffix.lower()))
    except mupdf_errors() as exc:
        raise CorruptDocument(path, f"not a readable picture ({exc})") from exc


def _open_with_pillow(path: Path, pymupdf: Any) -> Any:
    """A document with a page for each frame of the picture, decoded by Pillow."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    document = pymupdf.open()
    try:
        with Image.open(path) as picture:
            for frame in ImageSequence.Iterator(picture):
                x_ppi, y_ppi = frame.info.get("dpi") or (_DEFAULT_PIXELS_PER_INCH,) * 2
                png = io.BytesIO()
                frame.convert("RGB").save(png, "PNG")
                page = document.new_page(
                    width=frame.width * 72.0 / (x_ppi or _DEFAULT_PIXELS_PER_INCH),
                    height=frame.height * 72.0 / (y_ppi or _DEFAULT_PIXELS_PER_INCH),
                )
                page.insert_image(page.rect, stream=png.getvalue())
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        document.close()
        raise CorruptDocument(path, f"not a readable picture ({exc})") from exc
    return document


def parse_image(path: Path) -> ParsedDocument:
    """The text OCR reads in each page (image) of the picture, page by page."""
    require_nonempty_file(path)
    _require_picture(path)
    settings = ocr.current_settings()
    if not settings.enabled:
        raise PictureNeedsOcr(path)
    tessdata = ocr.tessdata_for(settings.languages, settings.own_folder)
    if tessdata is None:
        raise OcrDataMissing(path)
    blocks: list[TextBlock] = []
    with _open(path) as document:
        page_count = document.page_count
        if page_count == 0:
            raise CorruptDocument(path, "no picture in it")
        for index in range(page_count):
            if settings.on_page is not None:
                settings.on_page(index + 1, page_count)
            try:
                texts = ocr.recognise_page(document.load_page(index), settings.languages, tessdata)
            except mupdf_errors() as exc:
                if page_count == 1:
                    raise CorruptDocument(path, f"not a readable picture ({exc})") from exc
                logger.info("%s: page %d unreadable: %s", path.name, index + 1, exc)
                continue
            for raw in texts:
                text = join_lines(raw)
                if text:
                    blocks.append(TextBlock(text=text, page=index + 1, ocr=True))
    if not blocks:
        raise NoTextEvenWithOcr(path)
    logger.info("%s: %d picture(s) read by OCR", path.name, page_count)
    return finish_document(path, FILE_TYPE, blocks, page_count=page_count)
