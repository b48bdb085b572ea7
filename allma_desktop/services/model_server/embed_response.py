"""Reading Ollama's ``/api/embed`` answer.

A batch's answer is about half a megabyte of JSON numbers. ``json.loads`` took 4-5 ms
of CPU a batch and held the GIL, and so the window, for all of it; orjson (already
installed with chromadb) reads it in under half a millisecond. NumPy then checks that
the vectors form a table of finite numbers and turns integers such as ``0`` into floats
in one pass, instead of a Python loop over every number.
"""

from __future__ import annotations

import json

import orjson

from allma_desktop.errors import OllamaError


def decode_embeddings(body: bytes | str) -> list[list[float]]:
    """The vectors of an ``/api/embed`` answer, in order.

    Raises ``json.JSONDecodeError`` when the answer is not JSON and ``OllamaError`` when
    it has no list of vectors of equal length.
    """
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError as error:  # the standard library's class, as json.loads
        raise json.JSONDecodeError(error.msg, error.doc, error.pos) from error
    vectors = answer.get("embeddings") if isinstance(answer, dict) else None
    if not isinstance(vectors, list):
        raise _no_vectors()
    if not vectors:
        return []
    import numpy as np  # here, not at the top: the window imports this module at start

    try:
        table = np.asarray(vectors, dtype=np.float64)
    except (TypeError, ValueError) as error:  # rows of unequal length, or not numbers
        raise _no_vectors() from error
    if table.ndim != 2 or not np.isfinite(table).all():
        raise _no_vectors()
    rows: list[list[float]] = table.tolist()
    return rows


def _no_vectors() -> OllamaError:
    return OllamaError(
        "Ollama's answer holds no list of embeddings.",
        "Check that the embedding model is an embedding model.",
    )
