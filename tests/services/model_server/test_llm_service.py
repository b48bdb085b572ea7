"""OllamaService against the Ollama-protocol test server: real HTTP, real ``ollama`` client."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Mapping, Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from allma_desktop.errors import (
    ModelMissing,
    OllamaError,
    OllamaTimeout,
    OllamaUnreachable,
    StreamInterrupted,
    WrongModelKind,
)
from allma_desktop.records import PullProgress
from allma_desktop.services.model_server.ollama import (
    ChatMessage,
    LLMDelta,
    OllamaService,
    ThinkTagSplitter,
    base_url,
    canonical_model_name,
    model_capabilities,
)
from tests.support.ollama_server import (
    ALL_MINILM,
    DEFAULT_MODELS,
    OllamaTestServer,
    compose_reply,
    tokens,
)

QUESTION = [ChatMessage("user", "Why is the sky blue?")]
EXPECTED = compose_reply([{"role": "user", "content": "Why is the sky blue?"}])


@pytest.fixture
async def service(ollama_server: OllamaTestServer) -> AsyncIterator[OllamaService]:
    llm = OllamaService(ollama_server.url, timeout=10)
    yield llm
    await llm.close()


async def collect(
    llm: OllamaService,
    model: str,
    messages: Sequence[ChatMessage] = QUESTION,
    *,
    think: bool | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[LLMDelta]:
    stream = llm.chat_stream(model, messages, think=think, options=options)
    return [delta async for delta in stream]


def joined(deltas: Sequence[LLMDelta]) -> tuple[str, str]:
    return "".join(d.thinking for d in deltas), "".join(d.content for d in deltas)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- streaming chat ---


async def test_chat_streams_thinking_then_the_answer_then_done(service: OllamaService) -> None:
    deltas = await collect(service, "deepseek-r1", think=True)
    *parts, last = deltas
    assert joined(parts) == (EXPECTED.thinking, EXPECTED.answer)
    first_content = next(i for i, d in enumerate(parts) if d.content)
    assert all(not d.content for d in parts[:first_content])
    assert all(not d.thinking for d in parts[first_content:])
    assert last.done and last.done_reason == "stop"
    assert last.completion_tokens == len(parts)
    assert last.prompt_tokens and last.total_duration_ms and last.total_duration_ms > 0


async def test_legacy_think_tags_split_over_deltas_become_thinking(
    service: OllamaService,
) -> None:
    deltas = await collect(service, "legacy-r1")
    thinking, content = joined(deltas)
    assert thinking.strip() == EXPECTED.thinking
    assert content == EXPECTED.answer


async def test_think_on_a_model_without_thinking_retries_once_without_it(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    deltas = await collect(service, "llama3.2", think=True)
    assert joined(deltas) == ("", EXPECTED.answer)
    first, second = ollama_server.requests_to("/api/chat")
    assert first.body["think"] is True
    assert "think" not in second.body


async def test_legacy_model_asked_to_think_retries_and_still_splits_thinking(
    service: OllamaService,
) -> None:
    thinking, content = joined(await collect(service, "legacy-r1", think=True))
    assert thinking.strip() == EXPECTED.thinking
    assert content == EXPECTED.answer


async def test_chat_sends_the_options(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    await collect(service, "llama3.2", options={"num_ctx": 8192, "temperature": 0.1})
    [request] = ollama_server.requests_to("/api/chat")
    assert request.body["options"] == {"num_ctx": 8192, "temperature": 0.1}


async def test_stopping_mid_answer_closes_the_http_stream(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.token_delay = 0.02
    stream = service.chat_stream("llama3.2", QUESTION)
    received = [await anext(stream), await anext(stream)]
    await stream.aclose()
    [record] = ollama_server.streams
    assert record.finished.wait(timeout=5), "the server kept streaming"
    assert record.client_disconnected
    assert len(received) <= record.tokens_sent < len(tokens(EXPECTED.answer))


# --- errors ---


async def test_a_stopped_server_is_unreachable(ollama_server: OllamaTestServer) -> None:
    llm = OllamaService(ollama_server.url)
    await llm.list_models()  # leaves a kept-alive connection behind
    ollama_server.stop()
    with pytest.raises(OllamaUnreachable) as raised:
        await collect(llm, "llama3.2")
    assert ollama_server.url in raised.value.message
    with pytest.raises(OllamaUnreachable):
        await llm.embed("nomic-embed-text", ["text"])
    with pytest.raises(OllamaUnreachable):
        await llm.list_models()
    await llm.close()


async def test_a_closed_port_is_unreachable() -> None:
    llm = OllamaService(f"127.0.0.1:{closed_port()}")
    with pytest.raises(OllamaUnreachable) as raised:
        await llm.version()
    assert "ollama serve" in raised.value.hint
    await llm.close()


async def test_a_missing_chat_model_raises_model_missing(service: OllamaService) -> None:
    with pytest.raises(ModelMissing) as raised:
        await collect(service, "qwen3:0.6b")
    assert (raised.value.model, raised.value.role) == ("qwen3:0.6b", "chat")


async def test_a_missing_embedding_model_raises_model_missing_for_embedding(
    service: OllamaService,
) -> None:
    with pytest.raises(ModelMissing) as raised:
        await service.embed("mxbai-embed-large", ["text"])
    assert (raised.value.model, raised.value.role) == ("mxbai-embed-large", "embedding")


async def test_a_model_removed_after_listing_raises_model_missing(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    assert "llama3.2:latest" in [m.name for m in await service.list_models()]
    ollama_server.faults.missing_models = {"llama3.2:latest"}
    with pytest.raises(ModelMissing):
        await collect(service, "llama3.2")


async def test_a_server_error_carries_ollamas_own_text(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.status_500 = True
    with pytest.raises(OllamaError) as raised:
        await collect(service, "llama3.2")
    assert type(raised.value) is OllamaError
    assert "llama runner process has terminated" in raised.value.message
    with pytest.raises(OllamaError, match="llama runner process"):
        await service.embed("nomic-embed-text", ["text"])


async def test_a_cut_stream_raises_stream_interrupted_after_the_partial_answer(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.cut_stream_after = 3
    received: list[LLMDelta] = []
    with pytest.raises(StreamInterrupted):
        async for delta in service.chat_stream("llama3.2", QUESTION):
            received.append(delta)
    assert joined(received)[1] == "".join(tokens(EXPECTED.answer)[:3])


async def test_a_stream_ending_without_done_raises_stream_interrupted(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.cut_stream_after = 10_000  # cut just before the done line
    with pytest.raises(StreamInterrupted):
        await collect(service, "llama3.2")


async def test_a_malformed_line_raises_stream_interrupted(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.malformed_line_after = 2
    with pytest.raises(StreamInterrupted, match="not valid JSON"):
        await collect(service, "llama3.2")


async def test_an_error_line_mid_answer_raises_stream_interrupted(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.error_after = 2
    with pytest.raises(StreamInterrupted, match="llama runner process has terminated"):
        await collect(service, "llama3.2")


async def test_a_slow_first_token_raises_ollama_timeout(ollama_server: OllamaTestServer) -> None:
    ollama_server.faults.first_token_delay = 5.0
    llm = OllamaService(ollama_server.url, timeout=0.2)
    with pytest.raises(OllamaTimeout):
        await collect(llm, "llama3.2")
    await llm.close()


# --- embeddings ---


async def test_embed_sends_the_whole_batch_in_one_request(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    vectors = await service.embed("nomic-embed-text", ["one", "two", "three", "four"])
    assert len(vectors) == 4 and all(len(v) == 768 for v in vectors)
    [request] = ollama_server.requests_to("/api/embed")
    assert request.body["input"] == ["one", "two", "three", "four"]


async def test_embedding_nothing_sends_no_request(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    assert await service.embed("nomic-embed-text", []) == []
    assert ollama_server.requests_to("/api/embed") == []


# --- models and server ---


async def test_list_models_describes_the_installed_models(service: OllamaService) -> None:
    models = {m.name: m for m in await service.list_models()}
    assert "deepseek-r1:latest" in models
    deepseek = models["deepseek-r1:latest"]
    assert deepseek.size_bytes > 0 and deepseek.family == "qwen2"
    assert deepseek.parameter_size == "7.6B" and deepseek.modified_at


async def test_show_reports_capabilities_and_context_length(service: OllamaService) -> None:
    deepseek = await service.show("deepseek-r1")
    assert deepseek.supports_thinking and not deepseek.is_embedding
    assert deepseek.context_length == 131072
    assert (await service.show("nomic-embed-text")).is_embedding


async def test_show_is_cached_and_names_without_a_tag_mean_latest(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    first = await service.show("llama3.2")
    second = await service.show("llama3.2:latest")
    assert first == second
    assert len(ollama_server.requests_to("/api/show")) == 1


async def test_show_of_a_missing_model_raises_model_missing(service: OllamaService) -> None:
    with pytest.raises(ModelMissing):
        await service.show("nothing-here")


async def test_pull_reports_progress_until_success(service: OllamaService) -> None:
    progress = [p async for p in service.pull("qwen3:0.6b")]
    assert progress[0].status == "pulling manifest"
    assert progress[-1].status == "success"
    fractions = [p.fraction for p in progress if p.fraction is not None]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    assert "qwen3:0.6b" in [m.name for m in await service.list_models()]


async def test_pulling_an_unknown_model_raises_ollama_error(service: OllamaService) -> None:
    with pytest.raises(OllamaError, match="file does not exist"):
        [p async for p in service.pull("no-such-model")]


def test_pull_progress_without_a_total_has_no_fraction() -> None:
    assert PullProgress("pulling manifest", None, None).fraction is None


async def test_version_reads_api_version(service: OllamaService) -> None:
    assert (await service.version()).startswith("0.12.")


async def test_health_is_ok_when_both_models_are_installed(service: OllamaService) -> None:
    health = await service.health("deepseek-r1", "nomic-embed-text:latest")
    assert health.ok and health.reachable and health.version
    assert "llama3.2:latest" in health.models


async def test_health_names_a_missing_embedding_model(service: OllamaService) -> None:
    health = await service.health("deepseek-r1", "mxbai-embed-large")
    assert health.reachable and health.chat_model_present
    assert not health.embedding_model_present and not health.ok
    assert isinstance(health.error, ModelMissing) and health.error.role == "embedding"


async def test_listed_models_say_what_each_can_do_as_ollama_reports_it(
    service: OllamaService,
) -> None:
    models = {m.name: m for m in await service.list_models()}

    assert models["llama3.2:latest"].can_chat and not models["llama3.2:latest"].can_embed
    assert models["nomic-embed-text:latest"].can_embed
    assert not models["nomic-embed-text:latest"].can_chat


def test_a_server_too_old_to_report_capabilities_gets_a_guess_from_the_name() -> None:
    assert model_capabilities([], "all-minilm:latest", "bert") == ("embedding",)
    assert model_capabilities(None, "mxbai-embed-large:latest") == ("embedding",)
    assert model_capabilities([], "llama3.2:latest", "llama") == ("completion",)
    assert model_capabilities(["completion", "tools"], "embed-chat:1b") == ("completion", "tools")


async def test_chatting_with_an_embedding_model_says_so_in_the_users_words() -> None:
    with OllamaTestServer([*DEFAULT_MODELS, ALL_MINILM]) as server:
        llm = OllamaService(server.url, timeout=10)
        try:
            with pytest.raises(WrongModelKind) as raised:
                await collect(llm, "all-minilm")
        finally:
            await llm.close()

    assert str(raised.value.message) == "all-minilm cannot chat: it is an embedding model."
    assert raised.value.hint == "Pick a chat model, such as llama3.2."


async def test_health_says_when_the_embedding_model_is_a_chat_model(
    service: OllamaService,
) -> None:
    health = await service.health("deepseek-r1", "llama3.2")

    assert not health.ok
    assert isinstance(health.error, WrongModelKind) and health.error.role == "embedding"
    assert "nomic-embed-text:latest" in health.embedding_models
    assert "nomic-embed-text:latest" not in health.chat_models


async def test_checking_an_embedding_model_makes_one_real_embedding(
    service: OllamaService, ollama_server: OllamaTestServer
) -> None:
    assert await service.check_embedding_model("nomic-embed-text") > 0
    assert [r.body["model"] for r in ollama_server.requests_to("/api/embed")] == [
        "nomic-embed-text"
    ]
    with pytest.raises(WrongModelKind):
        await service.check_embedding_model("llama3.2")


async def test_health_of_an_unreachable_server_does_not_raise() -> None:
    llm = OllamaService(f"http://127.0.0.1:{closed_port()}")
    health = await llm.health("deepseek-r1", "nomic-embed-text")
    assert not health.reachable and not health.ok
    assert isinstance(health.error, OllamaUnreachable)
    await llm.close()


# --- helpers ---


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("localhost", "http://localhost:11434"),
        (":5000", "http://127.0.0.1:5000"),
        ("http://example.com/", "http://example.com:80"),
        ("https://example.com:8443/ollama/", "https://example.com:8443/ollama"),
    ],
)
def test_base_url_reads_ollama_host_values(host: str, url: str) -> None:
    assert base_url(host) == url


def test_model_names_without_a_tag_mean_latest() -> None:
    assert canonical_model_name("Llama3.2") == "llama3.2:latest"
    assert canonical_model_name("qwen3:0.6b") == "qwen3:0.6b"
    assert canonical_model_name("library/llama3.2") == "library/llama3.2:latest"


@given(st.lists(st.integers(min_value=0, max_value=60), max_size=8))
def test_think_tags_split_anywhere_are_separated_from_the_answer(cuts: list[int]) -> None:
    text = "<think>\nLet me see.\n</think>\n\nThe answer is <b>42</b>."
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    splitter = ThinkTagSplitter()
    pieces = [splitter.feed(text[a:b]) for a, b in pairwise(bounds)]
    pieces.append(splitter.flush())
    assert "".join(t for t, _ in pieces) == "\nLet me see.\n"
    assert "".join(c for _, c in pieces) == "The answer is <b>42</b>."


def test_content_without_a_think_block_passes_through_unchanged() -> None:
    splitter = ThinkTagSplitter()
    parts = [splitter.feed("<b>Bold</b> and "), splitter.feed("<think> stays"), splitter.flush()]
    assert "".join(c for _, c in parts) == "<b>Bold</b> and <think> stays"
    assert all(t == "" for t, _ in parts)
