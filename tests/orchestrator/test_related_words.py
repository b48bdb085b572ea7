"""The ``related_words`` setting reaches the search: on, a search looks up the passages'
words for the question's words they lack; off (the default), it asks for one vector.

The orchestrator over real SQLite and Chroma and the Ollama-protocol test server.
"""

from __future__ import annotations

from dataclasses import replace

from allma_desktop.orchestrator import Orchestrator
from tests.orchestrator.test_orchestrator import collect
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_QUESTION, SampleLibrary

# A word no passage of the sample library holds, so it is one to look up.
QUESTION = f"{PDF_QUESTION} xylophones"


def words_sent(server: OllamaTestServer, after: int) -> list[str]:
    return [
        text
        for request in server.requests_to("/api/embed")[after:]
        for text in request.body["input"]
    ]


async def test_a_search_looks_up_related_words_only_when_the_setting_is_on(
    orchestrator: Orchestrator, sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    await collect(orchestrator.ingest([sample_library.folder]))
    before = len(ollama_server.requests_to("/api/embed"))

    off = await orchestrator.search(QUESTION)
    after_off = len(ollama_server.requests_to("/api/embed"))
    orchestrator.config = replace(orchestrator.config, related_words=True)
    on = await orchestrator.search(QUESTION)

    assert off and on
    assert after_off == before + 1  # off: the question's vector only
    # On: the question, then its words the passages lack and the passages' words, each
    # embedded as the model takes a query (nomic-embed-text's task prefix).
    looked_up = words_sent(ollama_server, after_off)
    assert "search_query: xylophones" in looked_up
    assert "search_query: lighthouse" in looked_up or "search_query: bulb" in looked_up
