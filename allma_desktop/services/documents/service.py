"""The documents service: which files it reads, parsing them, chunking them.

Everything here is synchronous and may take seconds on a big PDF: callers on an
event loop run it in a worker thread.
"""

from __future__ import annotations

import errno
import logging
import os
from pathlib import Path

from allma_desktop.errors import CorruptDocument, DocumentError, DocumentTooLarge
from allma_desktop.services.documents import files
from allma_desktop.services.documents.chunking import chunk_document
from allma_desktop.services.documents.model import Chunk, ParsedDocument
from allma_desktop.services.documents.registry import DEFAULT_REGISTRY, ParserRegistry

logger = logging.getLogger(__name__)

_DETAIL_LIMIT = 200


class DocumentService:
    def __init__(
        self,
        *,
        chunk_size: int = 1000,
        chunk_overlap: int = 150,
        registry: ParserRegistry | None = None,
    ) -> None:
        if chunk_size < 1 or not 0 <= chunk_overlap < chunk_size:
            raise ValueError("need chunk_size >= 1 and 0 <= chunk_overlap < chunk_size")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.registry = registry or DEFAULT_REGISTRY

    def is_supported(self, path: Path) -> bool:
        """Whether some parser reads files with this extension (the content is not checked)."""
        return self.registry.file_type_for(path) is not None

    def skip_reason(self, path: Path) -> str | None:
        """Why a file found while walking folders is not worth parsing, or None to parse it."""
        if path.name.startswith("."):
            return "hidden file"
        if path.name.startswith("~$"):
            return "temporary Office file"
        if not self.is_supported(path):
            return f"unsupported file type '{path.suffix or '(none)'}'"
        if not path.exists():
            return "not found"
        if not path.is_file():
            return "not a regular file"
        return None

    def hash_file(self, path: Path) -> str:
        """sha256 hex of the file's bytes (raises OSError when it cannot be read)."""
        return files.hash_file(path)

    def parse(self, path: Path) -> ParsedDocument:
        """Parse ``path`` with the parser for its type.

        Raises only ``DocumentError`` subclasses: parsers' own (encrypted, corrupt, no
        text, empty, unsupported), ``DocumentError`` for files that cannot be read, and
        ``CorruptDocument`` wrapping anything a parser library throws unexpectedly.
        """
        parser = self.registry.parser_for(path)
        try:
            if not path.is_file():
                if not path.exists():
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
                raise DocumentError(path, "is not a regular file")
            return parser(path)
        except DocumentError:
            raise
        except OSError as exc:
            raise files.unreadable_file(path, exc) from exc
        except MemoryError as exc:
            raise DocumentTooLarge(path, files.memory_limit_mb()) from exc
        except RecursionError as exc:
            raise CorruptDocument(path, "nested too deeply to read") from exc
        except Exception as exc:
            logger.warning("parser failed on %s", path, exc_info=True)
            detail = f"{type(exc).__name__}: {exc}"
            raise CorruptDocument(path, detail[:_DETAIL_LIMIT]) from exc

    def chunk(self, doc: ParsedDocument, document_id: str) -> list[Chunk]:
        return chunk_document(
            doc, document_id, chunk_size=self.chunk_size, chunk_overlap=self.chunk_overlap
        )
