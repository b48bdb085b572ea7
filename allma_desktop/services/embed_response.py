"""Reading Ollama's ``/api/embed`` answer one vector at a time.

A batch's answer is about half a megabyte of JSON. ``json.loads`` reads it in one C
call that holds the GIL for 10-15 ms, and so freezes the window for as long even
from a worker thread. Decoding the ``embeddings`` array row by row holds it for well
under a millisecond at a time, so the GUI thread gets its turn between rows.
"""

from __future__ import annotations

import json
import re

from allma_desktop.errors import OllamaError

_EMBEDDINGS_KEY = re.compile(r'[{,]\s*"embeddings"\s*:\s*\[\s*')  # never inside a string
_SPACE = re.compile(r"\s*")
_DECODER = json.JSONDecoder()


def decode_embeddings(text: str) -> list[list[float]]:
    """The vectors of an ``/api/embed`` answer, in order.

    Raises ``json.JSONDecodeError`` when the answer is not JSON and ``OllamaError`` when
    it has no list of vectors.
    """
    found = _EMBEDDINGS_KEY.search(text)
    if found is None:
        return _vectors_of(json.loads(text).get("embeddings") if text.strip() else None)
    rows: list[list[float]] = []
    position = found.end()
    if text.startswith("]", position):
        return rows
    while True:
        row, position = _DECODER.raw_decode(text, position)
        rows.append(_vector(row))
        position = _SPACE.match(text, position).end()  # type: ignore[union-attr]
        separator = text[position : position + 1]
        position = _SPACE.match(text, position + 1).end()  # type: ignore[union-attr]
        if separator == "]":
            return rows
        if separator != ",":
            raise json.JSONDecodeError("expected ',' or ']' between vectors", text, position)


def _vectors_of(value: object) -> list[list[float]]:
    if not isinstance(value, list):
        raise OllamaError(
            "Ollama's answer holds no embeddings.",
            "Check that the embedding model is an embedding model.",
        )
    return [_vector(row) for row in value]


def _vector(row: object) -> list[float]:
    if not isinstance(row, list):
        raise OllamaError(
            "Ollama's answer holds an embedding that is not a list of numbers.",
            "Check that the embedding model is an embedding model.",
        )
    return [float(value) for value in row]
