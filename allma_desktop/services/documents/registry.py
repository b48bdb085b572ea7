"""Which parser reads which file, keyed by file type and found by extension.

Adding a format is one ``register`` call: a file type name, its extensions and a
callable ``(path) -> ParsedDocument``. Parsers check the content themselves where
an extension can lie (a PNG renamed to .pdf) and raise ``CorruptDocument``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from allma_desktop.errors import UnsupportedFile
from allma_desktop.services.documents.model import ParsedDocument


class Parser(Protocol):
    def __call__(self, path: Path, /) -> ParsedDocument: ...


def _normalise_extension(extension: str) -> str:
    extension = extension.lower()
    return extension if extension.startswith(".") else f".{extension}"


class ParserRegistry:
    def __init__(self) -> None:
        self._parsers: dict[str, Parser] = {}
        self._file_types: dict[str, str] = {}  # extension (".pdf") -> file type ("pdf")

    def register(self, file_type: str, extensions: Iterable[str], parser: Parser) -> None:
        """Make ``parser`` read ``file_type``; later registrations replace earlier ones."""
        self._parsers[file_type] = parser
        for extension in extensions:
            self._file_types[_normalise_extension(extension)] = file_type

    def file_type_for(self, path: Path | str) -> str | None:
        return self._file_types.get(Path(path).suffix.lower())

    def parser_for(self, path: Path | str) -> Parser:
        file_type = self.file_type_for(path)
        if file_type is None:
            raise UnsupportedFile(path)
        return self._parsers[file_type]

    def supported_extensions(self) -> frozenset[str]:
        return frozenset(self._file_types)

    def file_types(self) -> frozenset[str]:
        return frozenset(self._parsers)


def _register_builtin_parsers(registry: ParserRegistry) -> None:
    # Parser modules import their libraries lazily, so building the registry is cheap.
    from allma_desktop.services.documents import docx, html, images, markdown, pdf, text

    for file_type, extensions in pdf.MUPDF_FORMATS.items():
        registry.register(file_type, extensions, pdf.parser_for_format(file_type))
    registry.register("docx", [".docx"], docx.parse_docx)
    registry.register(images.FILE_TYPE, images.EXTENSIONS, images.parse_image)
    registry.register("markdown", markdown.EXTENSIONS, markdown.parse_markdown)
    registry.register("html", html.EXTENSIONS, html.parse_html)
    registry.register("text", text.PROSE_EXTENSIONS, text.parse_text)
    registry.register("code", text.CODE_EXTENSIONS, text.parse_code)


def default_registry() -> ParserRegistry:
    """A new registry holding every built-in parser."""
    registry = ParserRegistry()
    _register_builtin_parsers(registry)
    return registry


DEFAULT_REGISTRY = default_registry()


def register(file_type: str, extensions: Iterable[str], parser: Parser) -> None:
    """Register a parser in the default registry (used by ``DocumentService()``)."""
    DEFAULT_REGISTRY.register(file_type, extensions, parser)


def file_type_for(path: Path | str) -> str | None:
    return DEFAULT_REGISTRY.file_type_for(path)


def parser_for(path: Path | str) -> Parser:
    return DEFAULT_REGISTRY.parser_for(path)


def supported_extensions() -> frozenset[str]:
    return DEFAULT_REGISTRY.supported_extensions()
