"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ollama_server import OllamaTestServer


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """An Ollama-protocol server on loopback with the default models, stopped afterwards."""
    with OllamaTestServer() as server:
        yield server
