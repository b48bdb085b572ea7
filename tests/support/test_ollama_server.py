"""The Ollama-protocol test server, checked through the real ``ollama`` client over HTTP."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import ollama
import pytest

from tests.support.ollama_server import (
    EMBEDDING_DIMENSIONS,
    QWEN3_0_6B,
    OllamaTestServer,
    compose_reply,
    embed_text,
    parse_sources,
    tokens,
)

SOURCES_PROMPT = (
    "Sources:\n\n"
    "[1] (lighthouse.pdf, page 3)\n"
    "The lamp uses a xenon bulb rated at 3500 watts. The lens is cleaned every Friday.\n\n"
    "[2] (garden.docx)\n"
    "The tomatoes need watering every morning.\n\n"
    "Question: How many watts is the xenon bulb rated at?"
)
USER_ONLY = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture
def client(ollama_server: OllamaTestServer) -> Iterator[ollama.Client]:
    with ollama.Client(host=ollama_server.url, timeout=10) as sync_client:
        yield sync_client


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


# --- general endpoints ---


def test_root_says_ollama_is_running(ollama_server: OllamaTestServer) -> None:
    assert httpx.get(ollama_server.url).text == "Ollama is running"
    head = httpx.head(ollama_server.url)
    assert head.status_code == 200
    assert head.content == b""


def test_version_reports_an_ollama_version(ollama_server: OllamaTestServer) -> None:
    version = httpx.get(f"{ollama_server.url}/api/version").json()["version"]
    assert version.startswith("0.12.")


def test_unknown_path_is_404(ollama_server: OllamaTestServer) -> None:
    assert httpx.get(f"{ollama_server.url}/api/nothing").status_code == 404


def test_tags_lists_the_default_models_with_details(client: ollama.Client) -> None:
    models = {m.model: m for m in client.list().models}
    assert set(models) == {
        "deepseek-r1:latest",
        "legacy-r1:latest",
        "llama3.2:latest",
        "nomic-embed-text:latest",
    }
    llama = models["llama3.2:latest"]
    assert llama.size and llama.size > 0
    assert llama.details is not None and llama.details.family == "llama"
    assert llama.modified_at is not None


def test_show_reports_capabilities_and_context_length(client: ollama.Client) -> None:
    deepseek = client.show("deepseek-r1")
    assert deepseek.capabilities == ["completion", "thinking"]
    assert deepseek.modelinfo is not None
    assert deepseek.modelinfo["qwen2.context_length"] == 131072
    assert deepseek.template and deepseek.modelfile and deepseek.details
    assert client.show("nomic-embed-text").capabilities == ["embedding"]


def test_show_of_an_unknown_model_is_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.show("nothing-here")
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'nothing-here' not found"


def test_ps_lists_the_model_a_chat_loaded_with_its_num_ctx(client: ollama.Client) -> None:
    assert client.ps().models == []
    client.chat("llama3.2", USER_ONLY, options={"num_ctx": 8192})
    [loaded] = client.ps().models
    assert loaded.model == "llama3.2:latest"
    assert loaded.context_length == 8192


# --- chat ---


def test_chat_streams_thinking_first_then_the_answer_then_done(client: ollama.Client) -> None:
    parts = list(client.chat("deepseek-r1", USER_ONLY, stream=True, think=True))
    *tokens_, last = parts
    kinds = ["thinking" if p.message.thinking else "content" for p in tokens_]
    assert kinds == sorted(kinds, key=lambda kind: kind == "content")
    assert "thinking" in kinds and "content" in kinds
    assert all(not p.done for p in tokens_)
    assert last.done and last.done_reason == "stop"
    assert last.eval_count == len(tokens_)
    assert last.prompt_eval_count and last.total_duration and last.load_duration is not None
    assert last.eval_duration


def test_chat_with_think_false_gives_no_thinking(client: ollama.Client) -> None:
    response = client.chat("deepseek-r1", USER_ONLY, think=False)
    assert not response.message.thinking
    assert response.message.content


def test_legacy_model_puts_thinking_in_content_tags(client: ollama.Client) -> None:
    parts = list(client.chat("legacy-r1", USER_ONLY, stream=True))
    contents = [p.message.content or "" for p in parts]
    text = "".join(contents)
    assert text.startswith("<think>")
    assert "</think>" in text
    assert "<think>" not in contents and "</think>" not in contents  # tags split over tokens
    assert all(not p.message.thinking for p in parts)


def test_chat_answers_with_the_best_matching_source_sentence(client: ollama.Client) -> None:
    messages = [
        {"role": "system", "content": "Answer from the numbered sources."},
        {"role": "user", "content": SOURCES_PROMPT},
    ]
    answer = client.chat("llama3.2", messages).message.content
    assert answer == "The lamp uses a xenon bulb rated at 3500 watts. [1]"


def test_chat_without_sources_echoes_the_question(client: ollama.Client) -> None:
    answer = client.chat("llama3.2", USER_ONLY).message.content or ""
    assert "sky" in answer and "blue" in answer


def test_chat_stream_false_returns_one_object_with_the_whole_answer(
    ollama_server: OllamaTestServer,
) -> None:
    body = {"model": "deepseek-r1", "messages": USER_ONLY, "stream": False}
    response = httpx.post(f"{ollama_server.url}/api/chat", json=body)
    reply = response.json()
    assert response.headers["content-type"].startswith("application/json")
    assert reply["done"] is True and reply["done_reason"] == "stop"
    assert reply["message"]["thinking"] and reply["message"]["content"]


def test_streams_are_ndjson_over_chunked_encoding(ollama_server: OllamaTestServer) -> None:
    body = {"model": "llama3.2", "messages": USER_ONLY}
    with httpx.stream("POST", f"{ollama_server.url}/api/chat", json=body) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = [json.loads(line) for line in response.iter_lines()]
    assert [line["done"] for line in lines] == [False] * (len(lines) - 1) + [True]


def test_chat_with_think_on_a_model_that_cannot_think_is_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat("llama3.2", USER_ONLY, think=True)
    assert raised.value.status_code == 400
    assert raised.value.error == '"llama3.2" does not support thinking'


def test_chat_with_an_embedding_model_is_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat("nomic-embed-text", USER_ONLY)
    assert raised.value.status_code == 400
    assert raised.value.error == '"nomic-embed-text" does not support chat'


def test_chat_with_an_unknown_model_is_404(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat("qwen3:0.6b", USER_ONLY)
    assert raised.value.status_code == 404
    assert raised.value.error == 'model "qwen3:0.6b" not found, try pulling it first'


def test_generate_streams_a_response(client: ollama.Client) -> None:
    parts = list(client.generate("llama3.2", "Why is grass green?", stream=True))
    assert "grass" in "".join(p.response or "" for p in parts)
    assert parts[-1].done and parts[-1].done_reason == "stop"


def test_requests_are_recorded_with_their_bodies(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    client.chat("llama3.2", USER_ONLY, options={"num_ctx": 4096})
    [chat] = ollama_server.requests_to("/api/chat")
    assert chat.method == "POST"
    assert chat.body["options"]["num_ctx"] == 4096


async def test_async_client_streams_a_chat(ollama_server: OllamaTestServer) -> None:
    client = ollama.AsyncClient(host=ollama_server.url)
    stream = await client.chat("deepseek-r1", USER_ONLY, stream=True)
    parts = [part async for part in stream]
    await client.close()  # type: ignore[no-untyped-call]
    assert parts[-1].done
    assert any(p.message.thinking for p in parts)


# --- embeddings ---


def test_embed_returns_one_unit_vector_per_input_from_one_request(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    response = client.embed("nomic-embed-text", ["first text", "second text", "third"])
    assert len(response.embeddings) == 3
    assert all(len(vector) == EMBEDDING_DIMENSIONS for vector in response.embeddings)
    assert all(math.isclose(cosine(list(v), list(v)), 1.0) for v in response.embeddings)
    assert len(ollama_server.requests_to("/api/embed")) == 1
    assert response.prompt_eval_count and response.total_duration


def test_embed_accepts_a_single_string(client: ollama.Client) -> None:
    assert len(client.embed("nomic-embed-text", "just one").embeddings) == 1


def test_embeddings_are_deterministic() -> None:
    assert embed_text("The lens is cleaned on Friday") == embed_text(
        "The lens is cleaned on Friday"
    )


def test_texts_sharing_words_are_closer_than_unrelated_texts() -> None:
    query = embed_text("search_query: when is the lighthouse lens cleaned")
    related = embed_text("search_document: The lighthouse lens is cleaned every Friday.")
    unrelated = embed_text("search_document: Tomatoes need watering every morning.")
    assert cosine(query, related) > cosine(query, unrelated) + 0.3


# --- pull ---


def test_pull_streams_progress_then_installs_the_model(client: ollama.Client) -> None:
    statuses = list(client.pull("qwen3:0.6b", stream=True))
    names = [s.status for s in statuses]
    assert names[0] == "pulling manifest"
    assert names[-3:] == ["verifying sha256 digest", "writing manifest", "success"]
    downloads = [s for s in statuses if s.digest]
    assert downloads and all(s.total and s.completed is not None for s in downloads)
    assert downloads[-1].completed == downloads[-1].total
    assert "qwen3:0.6b" in {m.model for m in client.list().models}


def test_pull_of_a_name_given_as_mapping_installs_it_under_that_name() -> None:
    with OllamaTestServer(pullable={"tiny:1b": QWEN3_0_6B}) as server:
        with ollama.Client(host=server.url) as client:
            assert client.pull("tiny:1b").status == "success"
        assert "tiny:1b" in server.installed_models


def test_pull_of_an_unknown_model_fails_inside_the_stream(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as raised:
        list(client.pull("no-such-model", stream=True))
    assert raised.value.error == "pull model manifest: file does not exist"


# --- faults ---


@pytest.mark.parametrize("call", ["chat", "embed"])
def test_status_500_fault_answers_500(
    ollama_server: OllamaTestServer, client: ollama.Client, call: str
) -> None:
    ollama_server.faults.status_500 = True
    with pytest.raises(ollama.ResponseError) as raised:
        if call == "chat":
            client.chat("llama3.2", USER_ONLY)
        else:
            client.embed("nomic-embed-text", ["text"])
    assert raised.value.status_code == 500
    assert "llama runner process has terminated" in raised.value.error


def test_first_token_delay_outlasts_a_short_read_timeout(ollama_server: OllamaTestServer) -> None:
    ollama_server.faults.first_token_delay = 5.0
    client = ollama.Client(host=ollama_server.url, timeout=0.2)
    with client, pytest.raises(httpx.ReadTimeout):
        client.chat("llama3.2", USER_ONLY)


def test_embed_delay_outlasts_a_short_read_timeout(ollama_server: OllamaTestServer) -> None:
    ollama_server.faults.embed_delay = 5.0
    client = ollama.Client(host=ollama_server.url, timeout=0.2)
    with client, pytest.raises(httpx.ReadTimeout):
        client.embed("nomic-embed-text", ["text"])


def test_cut_stream_closes_the_connection_after_n_content_tokens(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    ollama_server.faults.cut_stream_after = 3
    received = []
    with pytest.raises(httpx.RemoteProtocolError):
        for part in client.chat("llama3.2", USER_ONLY, stream=True):
            received.append(part)
    assert len(received) == 3
    assert not any(part.done for part in received)


def test_malformed_line_arrives_after_n_content_tokens(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    ollama_server.faults.malformed_line_after = 2
    received = []
    with pytest.raises(json.JSONDecodeError):
        for part in client.chat("llama3.2", USER_ONLY, stream=True):
            received.append(part)
    assert len(received) == 2


def test_error_fault_ends_the_stream_with_an_error_line(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    ollama_server.faults.error_after = 2
    received = []
    with pytest.raises(ollama.ResponseError, match="llama runner process has terminated"):
        for part in client.chat("llama3.2", USER_ONLY, stream=True):
            received.append(part)
    assert len(received) == 2


def test_missing_model_fault_hides_an_installed_model(
    ollama_server: OllamaTestServer, client: ollama.Client
) -> None:
    ollama_server.faults.missing_models = {"llama3.2"}
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat("llama3.2:latest", USER_ONLY)
    assert raised.value.status_code == 404
    assert "llama3.2:latest" not in {m.model for m in client.list().models}


def test_token_delay_is_applied_between_lines(ollama_server: OllamaTestServer) -> None:
    ollama_server.faults.token_delay = 5.0
    with ollama.Client(host=ollama_server.url, timeout=0.3) as client:
        stream = client.chat("llama3.2", USER_ONLY, stream=True)
        assert next(stream).message.content  # the first line comes at once
        with pytest.raises(httpx.ReadTimeout):
            next(stream)


def test_closing_a_stream_early_is_seen_by_the_server(ollama_server: OllamaTestServer) -> None:
    ollama_server.faults.token_delay = 0.02
    with ollama.Client(host=ollama_server.url) as client:
        stream = client.chat("llama3.2", USER_ONLY, stream=True)
        next(stream)
        stream.close()
    [record] = ollama_server.streams
    assert record.finished.wait(timeout=5)
    assert record.client_disconnected and not record.completed
    assert record.tokens_sent < len(tokens(compose_reply(USER_ONLY).answer))


def test_a_stopped_server_refuses_connections(ollama_server: OllamaTestServer) -> None:
    with ollama.Client(host=ollama_server.url) as client:
        client.list()  # leaves a kept-alive connection behind
        ollama_server.stop()
        with pytest.raises(ConnectionError):
            client.list()


# --- the fake model's reading of the prompt ---


def test_sources_run_until_the_next_marker_or_the_question() -> None:
    sources = parse_sources(SOURCES_PROMPT)
    assert [s.number for s in sources] == [1, 2]
    assert sources[1].text == "(garden.docx)\nThe tomatoes need watering every morning."


def test_sources_in_the_system_message_are_used_with_a_plain_question() -> None:
    reply = compose_reply(
        [
            {"role": "system", "content": "[1] Cats sleep a lot.\n[2] Dogs bark at night."},
            {"role": "user", "content": "When do dogs bark?"},
        ]
    )
    assert reply.answer == "Dogs bark at night. [2]"


def test_a_question_no_source_answers_gets_a_fixed_reply() -> None:
    reply = compose_reply([{"role": "user", "content": "[1] Cats sleep.\n\nWho painted it?"}])
    assert reply.answer == "The provided sources do not answer this question."
