"""Scanned documents and pictures made in code: text rendered to images, nothing else.

Each picture is a page of text rendered by MuPDF and kept only as pixels, so the only
way to get the words back is OCR.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pymupdf

SCAN_DPI = 150


def page_picture(text: str, *, dpi: int = SCAN_DPI, gray: bool = False) -> Any:
    """A pixmap of a Letter page with ``text`` on it, as a scanner would give it."""
    source = pymupdf.open()
    page = source.new_page()
    page.insert_textbox(pymupdf.Rect(72, 72, 540, 500), text, fontsize=16)
    return page.get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY if gray else pymupdf.csRGB)


def write_scanned_pdf(path: Path, pages: Sequence[str]) -> Path:
    """An image-only PDF: one picture of each text per page."""
    document = pymupdf.open()
    for text in pages:
        page = document.new_page()
        page.insert_image(page.rect, pixmap=page_picture(text))
    document.save(path)
    return path


def write_mixed_pdf(path: Path, pages: Sequence[tuple[str, bool]], stamp: str = "") -> Path:
    """A PDF of text pages and scanned pages: ``(text, scanned)`` for each page; each
    scanned page gets ``stamp`` as text at its foot (as a scanner's software adds)."""
    document = pymupdf.open()
    for text, scanned in pages:
        page = document.new_page()
        if scanned:
            page.insert_image(page.rect, pixmap=page_picture(text))
            if stamp:
                page.insert_text((72, page.rect.height - 30), stamp, fontsize=9)
        else:
            page.insert_textbox(pymupdf.Rect(72, 72, 540, 700), text, fontsize=11)
    document.save(path)
    return path


def write_picture(path: Path, text: str) -> Path:
    """A PNG or JPEG (by ``path``'s extension) of a page of ``text``."""
    page_picture(text).save(path)
    return path


def write_webp(path: Path, text: str) -> Path:
    """A WebP picture of a page of ``text`` (through Pillow: MuPDF writes no WebP)."""
    from PIL import Image

    picture = page_picture(text)
    Image.frombytes("RGB", (picture.width, picture.height), picture.samples).save(
        path, "WEBP", quality=90
    )
    return path


def write_tiff(path: Path, pages: Sequence[str], dpi: int = SCAN_DPI) -> Path:
    """A multi-page TIFF (8-bit gray, uncompressed), one image of each text per page.

    Written by hand (baseline TIFF is simple): PyMuPDF reads TIFF but does not write it.
    """
    pictures = [page_picture(text, dpi=dpi, gray=True) for text in pages]
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    ifd_offset_at = 4  # where the offset of the next image's directory goes
    for picture in pictures:
        width, height, pixels = picture.width, picture.height, bytes(picture.samples)
        assert len(pixels) == width * height
        data_at = len(out)
        out += pixels
        resolution_at = len(out)
        out += struct.pack("<II", dpi, 1)
        if len(out) % 2:
            out += b"\x00"
        directory_at = len(out)
        struct.pack_into("<I", out, ifd_offset_at, directory_at)
        entries = [  # (tag, type, count, value): type 3 SHORT, 4 LONG, 5 RATIONAL
            (256, 4, 1, width),
            (257, 4, 1, height),
            (258, 3, 1, 8),
            (259, 3, 1, 1),  # no compression
            (262, 3, 1, 1),  # black is zero
            (273, 4, 1, data_at),
            (277, 3, 1, 1),
            (278, 4, 1, height),
            (279, 4, 1, len(pixels)),
            (282, 5, 1, resolution_at),
            (283, 5, 1, resolution_at),
            (296, 3, 1, 2),  # inches
        ]
        out += struct.pack("<H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
            out += struct.pack("<HHI", tag, kind, count) + packed
        ifd_offset_at = len(out)
        out += b"\x00\x00\x00\x00"
    path.write_bytes(bytes(out))
    return path


def write_broken_font_pdf(path: Path, text: str) -> Path:
    """A PDF whose text layer cannot be decoded but whose page shows ``text``.

    Its one glyph comes from a Type 3 font with no Unicode mapping (extraction gives a
    control code), and the glyph draws a picture of the whole line: what a PDF made
    with a broken font encoding looks like to a reader and to a text extractor.
    """
    line = pymupdf.open()
    line_page = line.new_page(width=600, height=60)
    line_page.insert_text((5, 40), text, fontsize=20)
    picture = line_page.get_pixmap(dpi=200)

    document = pymupdf.open()
    document.new_page()
    holder = document.new_page()
    image_xref = holder.insert_image(holder.rect, pixmap=picture)
    document.delete_page(1)
    width, height = 600, 60
    glyph = document.get_new_xref()
    document.update_object(glyph, "<<>>")
    document.update_stream(glyph, f"{width} 0 d0 q {width} 0 0 {height} 0 0 cm /Im1 Do Q".encode())
    font = document.get_new_xref()
    document.update_object(
        font,
        f"<</Type/Font/Subtype/Type3/FontBBox[0 0 {width} {height}]"
        f"/FontMatrix[0.001 0 0 0.001 0 0]/CharProcs<</g1 {glyph} 0 R>>"
        f"/Encoding<</Type/Encoding/Differences[1/g1]>>/FirstChar 1/LastChar 1"
        f"/Widths[{width}]/Resources<</XObject<</Im1 {image_xref} 0 R>>>>>>",
    )
    page_xref = document[0].xref
    document.xref_set_key(page_xref, "Resources", f"<</Font<</F1 {font} 0 R>>>>")
    contents = document.get_new_xref()
    document.update_object(contents, "<<>>")
    document.update_stream(contents, b"BT /F1 800 Tf 50 600 Td <01> Tj ET")
    document.xref_set_key(page_xref, "Contents", f"{contents} 0 R")
    document.save(path)
    return path
