"""Fixtures for the orchestrator and CLI: a config in temp folders pointing at the test server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import SampleLibrary, make_sample_library


@pytest.fixture
def app_env(
    tmp_path: Path, ollama_server: OllamaTestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Environment for a fresh user: data, config and logs in temp folders."""
    env = {
        "OLLAMA_HOST": ollama_server.url,
        "ALLMA_DATA_DIR": str(tmp_path / "data"),
        "ALLMA_CONFIG_DIR": str(tmp_path / "config"),
        "ALLMA_LOG_DIR": str(tmp_path / "logs"),
        "OLLAMA_MODEL": "deepseek-r1:latest",
        "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("VECTOR_STORE_PATH", "CHROMA_PERSIST_DIRECTORY", "LOG_LEVEL"):
        monkeypatch.delenv(key, raising=False)
    yield env


@pytest.fixture
def config(app_env: dict[str, str]) -> AppConfig:
    return AppConfig.from_env()


@pytest.fixture
async def orchestrator(config: AppConfig) -> AsyncIterator[Orchestrator]:
    engine = Orchestrator(config)
    await engine.open()
    try:
        yield engine
    finally:
        await engine.close()


@pytest.fixture
def sample_library(tmp_path: Path) -> SampleLibrary:
    return make_sample_library(tmp_path / "docs")
