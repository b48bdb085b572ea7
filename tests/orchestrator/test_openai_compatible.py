"""The orchestrator over an OpenAI-compatible model server (tests/support/openai_server.py): chat
and embeddings each from the server the config names, with the same events and errors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import (
    ConfigError,
    ModelMissing,
    NeedsOllama,
    OllamaError,
    OllamaUnreachable,
    StreamInterrupted,
    WrongModelKind,
)
from allma_desktop.events import AnswerDone, IngestFinished, ThinkingChunk
from allma_desktop.orchestrator import Orchestrator
from allma_desktop.services.model_server.choice import create_llm_service
from tests.support.ollama_server import OllamaTestServer
from tests.support.openai_server import OpenAIModel, OpenAITestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary

E = TypeVar("E")
CHAT_MODEL = "qwen2.5-7b-instruct"
EMBEDDING_MODEL = "text-embedding-nomic"


async def collect(stream: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in stream]


def only(events: Sequence[Any], kind: type[E]) -> list[E]:
    return [event for event in events if isinstance(event, kind)]


@pytest.fixture
def openai_server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(api_key="sk-local") as server:
        yield server


def chat_from_openai(config: AppConfig, server: OpenAITestServer, **changes: Any) -> AppConfig:
    """LM Studio-style chat; embeddings stay with Ollama."""
    values = {
        "llm_provider": "openai-compatible",
        "llm_base_url": server.url,
        "llm_api_key": "sk-local",
        "ollama_model": CHAT_MODEL,
        **changes,
    }
    return config.with_changes(**values)


def all_from_openai(config: AppConfig, server: OpenAITestServer) -> AppConfig:
    return chat_from_openai(
        config,
        server,
        embedding_provider="openai-compatible",
        embedding_base_url=server.url,
        embedding_api_key="sk-local",
        ollama_embedding_model=EMBEDDING_MODEL,
    )


async def open_engine(config: AppConfig) -> Orchestrator:
    engine = Orchestrator(config)
    await engine.open()
    return engine


async def indexed(engine: Orchestrator, path: Path) -> None:
    events = await collect(engine.ingest([path]))
    assert [r.status for r in only(events, IngestFinished)[-1].results] == ["indexed"]


async def test_chat_from_an_openai_server_with_embeddings_from_ollama_cites_the_page(
    config: AppConfig,
    openai_server: OpenAITestServer,
    ollama_server: OllamaTestServer,
    sample_library: SampleLibrary,
) -> None:
    engine = await open_engine(chat_from_openai(config, openai_server))
    try:
        await indexed(engine, sample_library.pdf)
        events = await collect(engine.chat(None, PDF_QUESTION))
    finally:
        await engine.close()

    done = only(events, AnswerDone)[-1]
    assert done.error is None, done.error
    assert PDF_ANSWER in done.answer
    assert done.sources[0].page == PDF_ANSWER_PAGE
    assert done.prompt_tokens and done.completion_tokens  # from the usage chunk
    chat_request = openai_server.requests_to("/v1/chat/completions")[-1]
    assert chat_request["stream"] is True and chat_request["model"] == CHAT_MODEL
    assert "num_ctx" not in chat_request and "options" not in chat_request
    assert not ollama_server.requests_to("/api/chat")
    assert ollama_server.requests_to("/api/embed")
    assert not openai_server.requests_to("/v1/embeddings")


async def test_embeddings_from_an_openai_server_index_and_find_the_page(
    config: AppConfig, openai_server: OpenAITestServer, sample_library: SampleLibrary
) -> None:
    engine = await open_engine(all_from_openai(config, openai_server))
    try:
        await indexed(engine, sample_library.pdf)
        sources = await engine.search("xenon bulb watts")
        collection = engine.collection(None)
    finally:
        await engine.close()

    assert sources[0].page == PDF_ANSWER_PAGE
    assert collection.embedding_model == EMBEDDING_MODEL
    assert openai_server.requests_to("/v1/embeddings")


async def test_a_reasoning_model_streams_its_thinking_apart_from_the_answer(
    config: AppConfig, openai_server: OpenAITestServer, sample_library: SampleLibrary
) -> None:
    engine = await open_engine(
        chat_from_openai(config, openai_server, ollama_model="deepseek-r1-distill")
    )
    try:
        events = await collect(engine.chat(None, "What is a lighthouse?", use_documents=False))
    finally:
        await engine.close()

    done = only(events, AnswerDone)[-1]
    assert only(events, ThinkingChunk)
    assert done.thinking.startswith("The question is about")
    assert "The question is about" not in done.answer


@pytest.mark.parametrize(
    ("field", "length"),
    [("max_model_len", 32768), ("meta.n_ctx_train", 4096), ("context_length", 65536)],
)
async def test_the_context_length_is_read_where_the_server_gives_it(
    config: AppConfig, field: str, length: int
) -> None:
    model = OpenAIModel("local-model", context_length=length, context_field=field)
    with OpenAITestServer(models=[model]) as server:
        service = create_llm_service(
            config.with_changes(llm_provider="openai-compatible", llm_base_url=server.url)
        )
        try:
            details = await service.show("local-model")
        finally:
            await service.close()

    assert details.context_length == length


async def test_a_wrong_api_key_says_which_setting_holds_it(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    engine = await open_engine(chat_from_openai(config, openai_server, llm_api_key="sk-wrong"))
    try:
        done = only(await collect(engine.chat(None, "hello", use_documents=False)), AnswerDone)[-1]
    finally:
        await engine.close()

    assert isinstance(done.error, OllamaError)
    assert "HTTP 401" in done.error.message
    assert "LLM_API_KEY" in done.error.hint


async def test_a_model_the_server_does_not_have_is_model_missing_with_its_models_listed(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    engine = await open_engine(chat_from_openai(config, openai_server, ollama_model="gpt-9"))
    try:
        done = only(await collect(engine.chat(None, "hello", use_documents=False)), AnswerDone)[-1]
        health = await engine.health()
    finally:
        await engine.close()

    assert isinstance(done.error, ModelMissing)
    assert "ollama pull" not in done.error.hint
    assert isinstance(health.ollama.error, ModelMissing)
    assert CHAT_MODEL in health.ollama.error.hint  # what the server does have
    assert not health.ollama.chat_model_present and health.ollama.embedding_model_present


async def test_a_server_that_is_not_running_is_unreachable_with_a_hint_for_it(
    config: AppConfig,
) -> None:
    with OpenAITestServer() as server:
        address = server.url  # a port that refuses connections once stopped
    service = create_llm_service(
        config.with_changes(llm_provider="openai-compatible", llm_base_url=address)
    )
    try:
        with pytest.raises(OllamaUnreachable) as raised:
            await service.list_models()
    finally:
        await service.close()

    assert "LLM_BASE_URL" in raised.value.hint
    assert "ollama serve" not in raised.value.hint


async def test_a_stream_cut_before_done_keeps_the_partial_answer(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    openai_server.faults.cut_stream_after = 3
    engine = await open_engine(chat_from_openai(config, openai_server))
    try:
        done = only(
            await collect(engine.chat(None, "hello there", use_documents=False)), AnswerDone
        )[-1]
    finally:
        await engine.close()

    assert isinstance(done.error, StreamInterrupted)
    assert done.interrupted and done.answer


async def test_an_error_event_mid_stream_interrupts_the_answer(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    openai_server.faults.error_after = 2
    engine = await open_engine(chat_from_openai(config, openai_server))
    try:
        done = only(
            await collect(engine.chat(None, "hello there", use_documents=False)), AnswerDone
        )[-1]
    finally:
        await engine.close()

    assert isinstance(done.error, StreamInterrupted)
    assert "The model crashed" in done.error.message


async def test_pulling_a_model_says_it_needs_ollama(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    engine = await open_engine(all_from_openai(config, openai_server))
    try:
        with pytest.raises(NeedsOllama) as raised:
            await collect(engine.pull("llama3.2"))
    finally:
        await engine.close()

    assert "LLM_PROVIDER=ollama" in raised.value.hint


async def test_the_model_list_holds_both_servers_models(
    config: AppConfig, openai_server: OpenAITestServer, ollama_server: OllamaTestServer
) -> None:
    engine = await open_engine(chat_from_openai(config, openai_server))
    try:
        names = {model.name for model in await engine.models()}
    finally:
        await engine.close()

    assert {CHAT_MODEL, EMBEDDING_MODEL} <= names
    assert set(ollama_server.installed_models) <= names


def test_providers_come_from_the_environment_over_the_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(
        '{"llm_provider": "openai-compatible", "llm_base_url": "http://localhost:1234/v1"}'
    )
    from_file = AppConfig.from_env({}, settings)
    from_env = AppConfig.from_env(
        {
            "LLM_PROVIDER": "ollama",
            "EMBEDDING_PROVIDER": "OpenAI-Compatible",
            "EMBEDDING_BASE_URL": "http://127.0.0.1:8080/v1/",
            "EMBEDDING_API_KEY": "sk-1",
        },
        settings,
    )

    assert (from_file.llm_provider, from_file.llm_base_url) == (
        "openai-compatible",
        "http://localhost:1234/v1",
    )
    assert from_env.llm_provider == "ollama"
    assert from_env.embedding_provider == "openai-compatible"
    assert from_env.embedding_base_url == "http://127.0.0.1:8080/v1"
    assert from_env.embedding_api_key == "sk-1"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"LLM_PROVIDER": "lmstudio"}, "LLM_PROVIDER"),
        ({"LLM_PROVIDER": "openai-compatible"}, "LLM_BASE_URL"),
        (
            {"EMBEDDING_PROVIDER": "openai-compatible", "EMBEDDING_BASE_URL": "localhost"},
            "EMBEDDING_BASE_URL",
        ),
    ],
)
def test_a_bad_provider_setting_names_its_variable(
    tmp_path: Path, environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_env(environ, tmp_path / "none.json")

    assert raised.value.variable == variable


async def test_models_are_checked_for_their_job_before_they_are_saved(
    config: AppConfig, openai_server: OpenAITestServer
) -> None:
    service = create_llm_service(all_from_openai(config, openai_server))
    try:
        await service.check_chat_model(CHAT_MODEL)
        dimension = await service.check_embedding_model(EMBEDDING_MODEL)
        with pytest.raises(WrongModelKind):
            await service.check_chat_model(EMBEDDING_MODEL)
        with pytest.raises(ModelMissing) as missing:
            await service.check_chat_model("gpt-9")
        models = {model.name: model for model in await service.list_models()}
    finally:
        await service.close()

    assert dimension > 0
    assert CHAT_MODEL in missing.value.hint  # what the server does list
    assert models[CHAT_MODEL].can_chat and models[EMBEDDING_MODEL].can_embed
