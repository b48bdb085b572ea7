"""What every parser does around the parsing: size checks, hashing, metadata, emptiness."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable
from pathlib import Path

from allma_desktop.errors import DocumentError, EmptyDocument
from allma_desktop.pathnames import display_text
from allma_desktop.services.documents.model import DocumentMetadata, ParsedDocument, TextBlock

_READ_SIZE = 1 << 20


def unreadable_file(path: Path, error: OSError) -> DocumentError:
    """What to tell the user when the system will not give us a file's bytes.

    A file removed or moved after it was listed (while earlier files were being read)
    reads the same whether it vanished before its hash or before its parse.
    """
    if isinstance(error, FileNotFoundError):
        return DocumentError(
            path,
            "was moved or deleted before it could be read",
            "Add it again from where it is now.",
        )
    return DocumentError(
        path, f"cannot be read ({error.strerror or error})", "Check the file's permissions."
    )


def hash_file(path: Path) -> str:
    """sha256 hex of the file's bytes, read in 1 MiB pieces so big files cost no memory."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while piece := stream.read(_READ_SIZE):
            digest.update(piece)
    return digest.hexdigest()


def require_nonempty_file(path: Path) -> int:
    """The file's size in bytes; a zero-byte file is an ``EmptyDocument``."""
    size = path.stat().st_size
    if size == 0:
        raise EmptyDocument(path)
    return size


_PLACEHOLDER_TITLE = re.compile(
    r"^(?:none|null|untitled( document)?|title|document\d*|presentation\d*|"
    r"powerpoint presentation|slide \d+|-+|template|new document|word document|"
    r"click to edit( the)? (master )?title( style)?|(your|insert) title here)$|"
    # An authoring tool's file name stands where the title should ("report_v2.docx").
    r"\.(?:docx?|pdf|indd|pptx?|xlsx?|odt|rtf|txt|tex|dvi|qxd|pages|key|cdr|ai|eps|ps)$",
    re.IGNORECASE,
)


# A title needs a word: "A5.0", "1", "v2" or "§" (metadata left by a tool) say nothing.
_WORD = re.compile(r"[^\W\d_]{3,}")


def clean_title(title: str | None) -> str | None:
    """A title worth showing, or None for blanks, authoring-tool placeholders and titles
    without a word in them (a number or a code such as "A5.0"); the file name is shown then."""
    if not title:
        return None
    title = " ".join(title.split())
    for prefix in ("Microsoft Word - ", "Microsoft PowerPoint - "):
        if title.startswith(prefix):
            title = title[len(prefix) :]
    if not title or _PLACEHOLDER_TITLE.search(title) or not _WORD.search(title):
        return None
    return title[:300]


def title_fits_text(title: str, text: str) -> bool:
    """Whether a metadata title has anything to do with the document's opening ``text``.

    A title of two or more words (of four letters or more) none of which the text uses
    was left by a template or another document ("Quarterly Report" on a lighthouse
    manual). Shorter titles are given the benefit of the doubt.
    """
    words = {word.lower() for word in re.findall(r"[^\W\d_]{4,}", title)}
    if len(words) < 2:
        return True
    opening = text.lower()
    return any(word in opening for word in words)


def finish_document(
    path: Path,
    file_type: str,
    blocks: Iterable[TextBlock],
    *,
    title: str | None = None,
    author: str | None = None,
    created: str | None = None,
    modified: str | None = None,
    page_count: int | None = None,
) -> ParsedDocument:
    """Drop blank blocks, fill in the metadata every format shares, refuse empty documents."""
    kept = [block for block in blocks if block.text.strip()]
    if not kept:
        raise EmptyDocument(path)
    metadata = DocumentMetadata(
        title=clean_title(title) or display_text(path.stem),  # a name may not be UTF-8
        author=clean_title(author),
        created=created,
        modified=modified,
        page_count=page_count,
        file_type=file_type,
        content_hash=hash_file(path),
        size_bytes=path.stat().st_size,
    )
    return ParsedDocument(path=path, metadata=metadata, blocks=kept)


MEMORY_LIMIT_ENV = "ALLMA_PARSE_MEMORY_MB"


def memory_limit_mb() -> int:
    """The memory a worker may use (``ALLMA_PARSE_MEMORY_MB``; default a quarter of the
    machine's memory, from 1 to 4 GB): a 1 GB text file must not grow it without end."""
    configured = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows)
        total = 8 * 1024
    return max(1024, min(4096, total // 4))
