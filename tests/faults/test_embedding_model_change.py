"""Changing the embedding model (in the issue: a chat model chosen for embeddings).

Until a re-embed has swapped new vectors in, every search and every chat keeps using
the vectors the collection has, embedding each question with the model they were made
with, as the app promises, instead of failing every question (a query vector from the
new model does not even have the stored vectors' size). After the swap, the new model.
"""

from __future__ import annotations

from allma_desktop.config import AppConfig
from allma_desktop.events import AnswerDone, IngestFinished
from allma_desktop.orchestrator import Orchestrator
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_QUESTION, SampleLibrary


async def _ask(engine: Orchestrator) -> AnswerDone:
    done = [e async for e in engine.chat(None, PDF_QUESTION) if isinstance(e, AnswerDone)]
    return done[0]


async def test_questions_use_the_vectors_model_until_a_re_embed_swaps_in_the_new_one(
    config: AppConfig, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    engine = Orchestrator(config)
    await engine.open()
    try:
        async for _ in engine.ingest([sample_library.pdf]):
            pass
    finally:
        await engine.close()

    changed = Orchestrator(config.with_changes(ollama_embedding_model="llama3.2:latest"))
    await changed.open()
    try:
        assert changed.collection(None).embedding_model == "nomic-embed-text:latest"
        results = await changed.search_results(PDF_QUESTION)
        assert results.notice is None  # a real vector search, with the vectors' own model
        assert results.sources[0].path.endswith("lighthouse-manual.pdf")
        answer = await _ask(changed)
        assert answer.error is None and PDF_ANSWER in answer.answer

        ollama_server.faults.missing_models = {"llama3.2:latest"}  # the re-embed fails ...
        finished = [e async for e in changed.reembed() if isinstance(e, IngestFinished)]
        ollama_server.faults.missing_models = set()
        assert finished[0].error is not None
        assert changed.collection(None).embedding_model == "nomic-embed-text:latest"
        answer = await _ask(changed)  # ... and questions still work
        assert answer.error is None and PDF_ANSWER in answer.answer

        finished = [e async for e in changed.reembed() if isinstance(e, IngestFinished)]
        assert finished[0].error is None
        assert changed.collection(None).embedding_model == "llama3.2:latest"
        assert (await changed.search_results(PDF_QUESTION)).sources
        assert (await changed.doctor()).ok
    finally:
        await changed.close()
