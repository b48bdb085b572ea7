"""Plain text and source code: any encoding in, paragraphs (or code blocks) out.

Encodings: a byte order mark wins (UTF-8/16/32); otherwise UTF-8 when the bytes
mostly are UTF-8, otherwise charset-normalizer's guess. Undecodable bytes become
U+FFFD rather than an error. Files are decoded as a stream, line by line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path

from allma_desktop.errors import CorruptDocument
from allma_desktop.services.documents.files import finish_document, require_nonempty_file
from allma_desktop.services.documents.model import BlockKind, ParsedDocument, TextBlock
from allma_desktop.services.documents.sniff import read_head, sniff_format

PROSE_EXTENSIONS = (".txt", ".text", ".rst", ".tex", ".log", ".org", ".adoc", ".asciidoc")
CODE_EXTENSIONS = (
    *(".py", ".pyi", ".js", ".mjs", ".cjs", ".jsx", ".ts", ".tsx", ".java", ".kt", ".kts"),
    *(".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".hh", ".cs", ".m", ".mm", ".swift"),
    *(".rs", ".go", ".rb", ".php", ".pl", ".pm", ".lua", ".r", ".scala", ".dart", ".jl"),
    *(".sh", ".bash", ".zsh", ".fish", ".ps1", ".bat", ".cmd"),
    *(".json", ".jsonl", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".conf", ".env"),
    *(".csv", ".tsv", ".xml", ".sql", ".css", ".scss", ".less", ".vue", ".svelte"),
    *(".gradle", ".cmake", ".mk", ".proto", ".graphql", ".tf"),
)

_SAMPLE_SIZE = 64 * 1024
_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32-LE's mark starts with UTF-16-LE's, so it is tested first.
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Formats that are certainly not text even when someone named them .txt.
_BINARY_FORMATS = frozenset(
    {"PDF document", "PNG image", "JPEG image", "GIF image", "TIFF image", "ZIP archive",
     "legacy Office file", "gzip archive", "RAR archive", "7-Zip archive", "program",
     "WebP image"}
)  # fmt: skip
_WESTERN_ENCODINGS = ("cp1252", "latin_1", "iso8859_15")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _mostly_utf8(sample: bytes) -> bool:
    """UTF-8 unless invalid sequences outnumber valid non-ASCII characters."""
    decoded = sample.decode("utf-8", errors="replace")
    if len(sample) == _SAMPLE_SIZE:
        decoded = decoded[:-4]  # the sample may end inside a multi-byte character
    invalid = decoded.count("\ufffd")
    if invalid == 0:
        return True
    valid_non_ascii = sum(1 for char in decoded if char > "\x7f") - invalid
    return valid_non_ascii > invalid


def detect_encoding(path: Path) -> str:
    """The codec to read ``path`` with; raises ``CorruptDocument`` for binary files."""
    sample = read_head(path, _SAMPLE_SIZE)
    for bom, encoding in _BOMS:
        if sample.startswith(bom):
            return encoding
    found = sniff_format(sample)
    if found in _BINARY_FORMATS:
        raise CorruptDocument(path, f"not a text file (looks like {found})")
    has_nul = b"\x00" in sample
    if not has_nul and _mostly_utf8(sample):
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if matches:
        best = matches[0]
        # Short Western text fits cp1250 as well as cp1252 ("crème" vs "crčme"); when the
        # detector cannot tell them apart, the far more common Western code page wins.
        tied = {
            match.encoding
            for match in matches
            if match.percent_chaos <= best.percent_chaos
            and match.percent_coherence >= best.percent_coherence
        }
        return next((enc for enc in _WESTERN_ENCODINGS if enc in tied), str(best.encoding))
    if has_nul:
        raise CorruptDocument(path, "not a text file (binary content)")
    return "cp1252"


def open_text(path: Path) -> io.TextIOWrapper:
    """``path`` opened for reading as text in its detected encoding, never raising on bytes."""
    encoding = detect_encoding(path)
    return io.TextIOWrapper(path.open("rb"), encoding=encoding, errors="replace", newline=None)


def read_text(path: Path) -> str:
    with open_text(path) as stream:
        return clean_text(stream.read())


def clean_text(text: str) -> str:
    """Drop control characters (NULs, escapes) that would only confuse a reader or a model."""
    return _CONTROL_CHARACTERS.sub("", text.replace("\f", "\n\n"))


def iter_paragraphs(path: Path) -> Iterator[str]:
    """The file's paragraphs (runs of lines between blank lines), streamed."""
    lines: list[str] = []
    with open_text(path) as stream:
        for raw_line in stream:
            # A form feed (page break) ends a paragraph like a blank line does.
            for index, part in enumerate(raw_line.split("\f")):
                line = _CONTROL_CHARACTERS.sub("", part).rstrip()
                if lines and (index > 0 or not line.strip()):
                    yield "\n".join(lines)
                    lines = []
                if line.strip():
                    lines.append(line)
    if lines:
        yield "\n".join(lines)


def _parse(path: Path, file_type: str, kind: BlockKind) -> ParsedDocument:
    require_nonempty_file(path)
    blocks = [TextBlock(text=paragraph, kind=kind) for paragraph in iter_paragraphs(path)]
    return finish_document(path, file_type, blocks)


def parse_text(path: Path) -> ParsedDocument:
    """Plain prose: one paragraph block per run of lines between blank lines."""
    return _parse(path, "text", "paragraph")


def parse_code(path: Path) -> ParsedDocument:
    """Source code and data files: the same split, as "code" blocks (indentation kept)."""
    return _parse(path, "code", "code")
