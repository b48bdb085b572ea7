"""Every vector store backend behind the whole engine: ingest, then ask, with the page cited."""

from __future__ import annotations

import importlib.util

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.events import AnswerDone
from allma_desktop.orchestrator import Orchestrator
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary


@pytest.mark.parametrize(("backend", "module"), [("faiss", "faiss"), ("qdrant", "qdrant_client")])
async def test_ingest_and_ask_work_on_the_backend(
    config: AppConfig, sample_library: SampleLibrary, backend: str, module: str
) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    engine = Orchestrator(config.with_changes(vector_store=backend))
    await engine.open()
    try:
        async for _ in engine.ingest([sample_library.folder]):
            pass
        done = [e async for e in engine.chat(None, PDF_QUESTION) if isinstance(e, AnswerDone)][-1]
        assert PDF_ANSWER in done.answer
        assert done.sources[0].page == PDF_ANSWER_PAGE
    finally:
        await engine.close()
