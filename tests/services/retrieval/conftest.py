"""Fixtures the retrieval tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from allma_desktop.services.vectorstore.chroma import ChromaVectorStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ChromaVectorStore]:
    """An embedded Chroma store in the test's temp folder, closed afterwards."""
    vector_store = ChromaVectorStore(tmp_path / "vectors")
    yield vector_store
    vector_store.close()
