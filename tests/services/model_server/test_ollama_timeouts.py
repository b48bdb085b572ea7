"""Ollama on another machine: a dead or stalled server fails within the configured timeout.

The service is built from the config (``OllamaService.from_config``), as the engine
builds it, and talks to real sockets on loopback.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import AllmaError, OllamaTimeout, OllamaUnreachable
from allma_desktop.services.model_server.ollama import ChatMessage, OllamaService
from tests.support.ollama_server import OllamaTestServer

# Generous: the machine is shared; the point is "the configured seconds, not minutes".
SLACK_SECONDS = 3.0


@pytest.fixture
def unanswered_address() -> Iterator[str]:
    """An address whose connections never complete, as a host that drops packets.

    A listening socket with a backlog of 0 that never accepts: once its queue is
    full (the filler connections), the kernel drops further handshakes.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for opened in (*fillers, listener):
            opened.close()


def assert_actionable(error: AllmaError) -> None:
    assert error.message and error.hint


async def test_a_server_that_never_accepts_is_unreachable_after_the_connect_timeout(
    unanswered_address: str,
) -> None:
    config = AppConfig(
        ollama_host=unanswered_address, ollama_connect_timeout=0.5, request_timeout=60
    )
    llm = OllamaService.from_config(config)
    started = time.monotonic()
    with pytest.raises(OllamaUnreachable) as raised:
        await llm.list_models()
    elapsed = time.monotonic() - started
    await llm.close()

    assert 0.4 < elapsed < 0.5 + SLACK_SECONDS
    assert unanswered_address in raised.value.message
    assert "timed out" in raised.value.message
    assert_actionable(raised.value)


async def test_a_stalled_answer_times_out_after_the_read_timeout(
    ollama_server: OllamaTestServer,
) -> None:
    ollama_server.faults.first_token_delay = 60.0  # woken when the server stops
    config = AppConfig(ollama_host=ollama_server.url, request_timeout=0.5)
    llm = OllamaService.from_config(config)
    started = time.monotonic()
    with pytest.raises(OllamaTimeout) as raised:
        async for _ in llm.chat_stream("llama3.2", [ChatMessage("user", "Hello?")]):
            pass
    elapsed = time.monotonic() - started
    await llm.close()

    assert 0.4 < elapsed < 0.5 + SLACK_SECONDS
    assert "did not answer within 0.5 s" in raised.value.message
    assert "timeout in Settings" in raised.value.hint


async def test_a_stalled_embedding_times_out_after_the_read_timeout(
    ollama_server: OllamaTestServer,
) -> None:
    ollama_server.faults.embed_delay = 60.0
    config = AppConfig(ollama_host=ollama_server.url, request_timeout=0.5)
    llm = OllamaService.from_config(config)
    started = time.monotonic()
    with pytest.raises(OllamaTimeout) as raised:
        await llm.embed("nomic-embed-text", ["a passage"])
    elapsed = time.monotonic() - started
    await llm.close()

    assert elapsed < 0.5 + SLACK_SECONDS
    assert_actionable(raised.value)


async def test_a_slow_model_load_within_the_read_timeout_is_waited_for(
    ollama_server: OllamaTestServer,
) -> None:
    ollama_server.faults.first_token_delay = 0.6  # longer than the connect timeout
    config = AppConfig(
        ollama_host=ollama_server.url, ollama_connect_timeout=0.3, request_timeout=10
    )
    llm = OllamaService.from_config(config)
    deltas = [d async for d in llm.chat_stream("llama3.2", [ChatMessage("user", "Hello?")])]
    await llm.close()

    assert deltas and deltas[-1].done
