"""The OpenAI-compatible endpoints, driven by the real ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.api.conftest import RunningApi
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION


@pytest.fixture
def client(api: RunningApi) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{api.url}/v1", api_key=api.token, max_retries=0) as oa:
        yield oa


def test_models_lists_ollama_chat_models_and_one_per_collection(client: openai.OpenAI) -> None:
    ids = [model.id for model in client.models.list()]

    assert "deepseek-r1:latest" in ids
    assert "allma:Library" in ids
    assert "nomic-embed-text:latest" not in ids  # an embedding model cannot chat


def test_a_completion_from_a_collection_cites_its_sources(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="allma:Library", messages=[{"role": "user", "content": PDF_QUESTION}]
    )

    text = completion.choices[0].message.content or ""
    assert PDF_ANSWER in text
    sources = (completion.model_extra or {})["sources"]
    assert f"[{sources[0]['number']}]" in text and "Sources:" in text
    assert sources[0]["page"] == PDF_ANSWER_PAGE
    assert (sources[0]["checked_sentences"], sources[0]["supported_sentences"]) == (1, 1)
    assert (completion.model_extra or {})["grounding"]["supported"] == 1
    assert completion.choices[0].finish_reason == "stop"


def test_a_streamed_completion_arrives_in_chunks_ending_with_the_sources(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model="allma:Library",
        messages=[{"role": "user", "content": PDF_QUESTION}],
        stream=True,
    )
    chunks = list(stream)

    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert len(chunks) > 3
    assert PDF_ANSWER in text and "Sources:" in text
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["sources"][0]["page"] == PDF_ANSWER_PAGE
    assert (last.model_extra or {})["grounding"]["checked"] == 1


def test_earlier_messages_become_the_stored_conversation(
    api: RunningApi, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(
        model="allma:Library",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Who keeps the lighthouse?"},
            {"role": "assistant", "content": "Two keepers."},
            {"role": "user", "content": PDF_QUESTION},
        ],
    )

    conversation_id = (completion.model_extra or {})["conversation_id"]
    roles = [m.role for m in api.orchestrator.conversations.messages(conversation_id)]
    assert roles == ["user", "assistant", "user", "assistant"]


def test_an_ollama_model_answers_without_documents(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="deepseek-r1:latest", messages=[{"role": "user", "content": "Say hello"}]
    )

    assert completion.choices[0].message.content
    assert (completion.model_extra or {})["sources"] == []


def test_an_unknown_collection_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="no collection named 'Nope'"):
        client.chat.completions.create(
            model="allma:Nope", messages=[{"role": "user", "content": "hi"}]
        )


def test_embeddings_pass_through_to_the_embedding_model(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="nomic-embed-text:latest", input=["a lighthouse lamp", "a bicycle chain"]
    )

    assert [item.index for item in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 768


def test_float_embeddings_equal_the_base64_ones(client: openai.OpenAI) -> None:
    as_base64 = client.embeddings.create(model="nomic-embed-text:latest", input="a lamp")
    as_floats = client.embeddings.create(
        model="nomic-embed-text:latest", input="a lamp", encoding_format="float"
    )

    assert as_floats.data[0].embedding == pytest.approx(as_base64.data[0].embedding, abs=1e-6)
