"""Test-only parsers that misbehave, loaded into the parse worker through ALLMA_PARSER_PLUGINS.

``.hang`` files are read by a parser that never returns; ``.crash`` files by one that
kills its process, as a segfault in a native parser library would.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from allma_desktop.services.documents.model import ParsedDocument
from allma_desktop.services.documents.registry import ParserRegistry

HANG_EXTENSION = ".hang"
CRASH_EXTENSION = ".crash"


def parse_forever(path: Path) -> ParsedDocument:
    threading.Event().wait()
    raise AssertionError("unreachable")


def parse_and_crash(path: Path) -> ParsedDocument:
    os.abort()


def register(registry: ParserRegistry) -> None:
    registry.register("hang", [HANG_EXTENSION], parse_forever)
    registry.register("crash", [CRASH_EXTENSION], parse_and_crash)
