"""Recognise a file by its first bytes, for files whose extension says something else."""

from __future__ import annotations

import zipfile
from pathlib import Path

from allma_desktop.errors import CorruptDocument

# (offset, magic bytes, what a person would call the file)
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"%PDF", "PDF document"),
    (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"),
    (0, b"GIF87a", "GIF image"),
    (0, b"GIF89a", "GIF image"),
    (0, b"II*\x00", "TIFF image"),
    (0, b"MM\x00*", "TIFF image"),
    (0, b"PK\x03\x04", "ZIP archive"),
    (0, b"PK\x05\x06", "ZIP archive"),
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "legacy Office file"),
    (0, b"{\\rtf", "RTF document"),
    (0, b"\x1f\x8b", "gzip archive"),
    (0, b"Rar!\x1a\x07", "RAR archive"),
    (0, b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (0, b"\x7fELF", "program"),
    (60, b"BOOKMOBI", "MOBI e-book"),
)
_HEAD_SIZE = 1024

# Zip containers (DOCX, EPUB, ...) can declare gigabytes behind a few kilobytes.
MAX_UNZIPPED_BYTES = 500 * 1024 * 1024


def read_head(path: Path, size: int = _HEAD_SIZE) -> bytes:
    with path.open("rb") as stream:
        return stream.read(size)


def sniff_format(head: bytes) -> str | None:
    """What the bytes look like ("PNG image", "ZIP archive", ...), or None if unknown."""
    for offset, magic, label in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return label
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WebP image"
    return None


def looks_like_pdf(head: bytes) -> bool:
    """PDF readers accept a header anywhere in the first kilobyte, after junk."""
    return b"%PDF" in head[:_HEAD_SIZE]


def require_pdf(path: Path) -> None:
    """Refuse a file named .pdf that is clearly something else (a renamed image, say)."""
    head = read_head(path)
    if looks_like_pdf(head):
        return
    found = sniff_format(head)
    if found is not None:
        raise CorruptDocument(path, f"not a PDF (looks like {found})")


def require_zip(path: Path, format_name: str) -> None:
    """Refuse a zip-based file (DOCX, EPUB, ...) that is no zip, is broken, or is a zip bomb."""
    if not zipfile.is_zipfile(path):
        found = sniff_format(read_head(path))
        detail = f"looks like {found}" if found else "not a zip archive"
        raise CorruptDocument(path, f"not a valid {format_name} file ({detail})")
    try:
        with zipfile.ZipFile(path) as archive:
            declared = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CorruptDocument(path, f"broken zip archive: {exc}") from exc
    if declared > MAX_UNZIPPED_BYTES:
        raise CorruptDocument(path, "too large when decompressed")
