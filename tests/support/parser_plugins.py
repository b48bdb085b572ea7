"""Test-only parsers that misbehave, loaded into the parse worker through ALLMA_PARSER_PLUGINS.

``.hang`` files are read by a parser that never returns; ``.crash`` files by one that
kills its process, as a segfault in a native parser library would; ``.logged`` files are
read as text, and their names appended to the file named by ``READ_LOG_ENV`` first, so a
test can tell which files the worker read.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from allma_desktop.services.documents.model import ParsedDocument
from allma_desktop.services.documents.registry import ParserRegistry
from allma_desktop.services.documents.text import parse_text

HANG_EXTENSION = ".hang"
CRASH_EXTENSION = ".crash"
LOGGED_EXTENSION = ".logged"
READ_LOG_ENV = "ALLMA_TEST_READ_LOG"


def parse_forever(path: Path) -> ParsedDocument:
    threading.Event().wait()
    raise AssertionError("unreachable")


def parse_and_crash(path: Path) -> ParsedDocument:
    os.abort()


def parse_and_log(path: Path) -> ParsedDocument:
    with open(os.environ[READ_LOG_ENV], "a", encoding="utf-8") as log:
        log.write(f"{path.name}\n")
    return parse_text(path)


def register(registry: ParserRegistry) -> None:
    registry.register("hang", [HANG_EXTENSION], parse_forever)
    registry.register("crash", [CRASH_EXTENSION], parse_and_crash)
    registry.register("logged", [LOGGED_EXTENSION], parse_and_log)
