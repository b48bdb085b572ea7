"""What "N documents" means, in one place: the Library's header, the status bar, the chat's
collection picker, the collections' records and the health report all count with
``count_documents`` and say it with ``DocumentCounts``.

- a *document* is a file that was read and is searchable: stored as ``ready`` (one in a
  watched folder that is offline now is still searchable, and still a document);
- *passages* are the documents' chunks (a failed file's chunks are not searchable);
- a file that *could not be read* is ``failed`` for a reason of its own;
- a file stopped by Cancel is ``failed`` with the reason ``cancelled``: it is
  *cancelled*, not unreadable;
- files queued or being indexed are not counted yet.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CANCELLED_REASON = "cancelled"  # the error a file stopped by Cancel is stored with

Kind = Literal["document", "failed", "cancelled"]


def kind_of(status: str, error: str | None = None) -> Kind | None:
    """How a file counts: by its stored status and error (or a library row's status, which
    also says "offline" and "cancelled"); None for files not counted (queued, indexing,
    skipped)."""
    if status in ("ready", "offline"):
        return "document"
    if status == "cancelled" or (status == "failed" and error == CANCELLED_REASON):
        return "cancelled"
    if status == "failed":
        return "failed"
    return None


def plural(number: int, word: str) -> str:
    return f"{number:,} {word}{'' if number == 1 else 's'}"


@dataclass(frozen=True)
class DocumentCounts:
    documents: int = 0  # searchable (offline ones included)
    passages: int = 0  # the documents' chunks
    offline: int = 0  # of the documents: in a watched folder not found now
    failed: int = 0  # could not be read
    cancelled: int = 0  # stopped by Cancel before they were read

    @property
    def documents_text(self) -> str:
        """ "1 document", "12 documents": the number every view shows first."""
        return plural(self.documents, "document")

    def parts(self) -> list[str]:
        """The counts as words, in the order every view shows them; zeros left out."""
        parts = [self.documents_text]
        if self.documents:
            parts.append(plural(self.passages, "passage"))
        if self.offline:
            parts.append(f"{self.offline:,} offline")
        if self.failed:
            parts.append(f"{self.failed:,} could not be read")
        if self.cancelled:
            parts.append(f"{self.cancelled:,} cancelled")
        return parts

    def summary(self) -> str:
        """ "12 documents · 340 passages · 1 could not be read · 3 cancelled"."""
        return " · ".join(self.parts())


def count_documents(
    groups: Iterable[tuple[str, str | None, int, int | None]],
) -> DocumentCounts:
    """Count files given as (status, error, how many, their chunks) groups: one group a
    file, or a database's rows grouped by status and error."""
    documents = passages = offline = failed = cancelled = 0
    for status, error, number, chunks in groups:
        kind = kind_of(status, error)
        if kind == "document":
            documents += number
            passages += chunks or 0
            if status == "offline":
                offline += number
        elif kind == "failed":
            failed += number
        elif kind == "cancelled":
            cancelled += number
    return DocumentCounts(documents, passages, offline, failed, cancelled)


__all__ = [
    "CANCELLED_REASON",
    "DocumentCounts",
    "count_documents",
    "kind_of",
]
