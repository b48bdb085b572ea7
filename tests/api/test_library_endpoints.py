"""Conversations, documents and collections, and what the desktop app sees of API changes."""

from __future__ import annotations

import httpx

from allma_desktop.sources import SOURCE_FIELDS
from tests.api.conftest import RunningApi
from tests.support.sample_docs import PDF_ANSWER_PAGE, PDF_QUESTION


def test_a_chat_through_the_api_is_stored_where_the_app_sidebar_reads_it(
    api: RunningApi, client: httpx.Client
) -> None:
    answer = client.post("/chat/", json={"message": PDF_QUESTION}).json()

    sidebar = api.orchestrator.conversations.list()  # what the app's conversation list shows
    assert answer["conversation_id"] in [c.id for c in sidebar]
    assert "conversations" in api.changes


def test_a_conversation_comes_with_its_messages_and_their_sources(client: httpx.Client) -> None:
    conversation_id = client.post("/chat/", json={"message": PDF_QUESTION}).json()[
        "conversation_id"
    ]

    response = client.get(f"/conversations/{conversation_id}")

    assert response.status_code == 200
    conversation = response.json()
    assert [m["role"] for m in conversation["messages"]] == ["user", "assistant"]
    answer = conversation["messages"][1]
    assert answer["sources"][0]["page"] == PDF_ANSWER_PAGE
    assert conversation["title"]


def test_conversations_are_listed_most_recent_first(client: httpx.Client) -> None:
    newest = client.post("/chat/", json={"message": PDF_QUESTION}).json()["conversation_id"]

    listed = client.get("/conversations").json()

    assert listed[0]["id"] == newest


def test_a_deleted_conversation_is_gone(client: httpx.Client) -> None:
    conversation_id = client.post("/chat/", json={"message": PDF_QUESTION}).json()[
        "conversation_id"
    ]

    assert client.delete(f"/conversations/{conversation_id}").status_code == 204
    assert client.get(f"/conversations/{conversation_id}").status_code == 404


def test_documents_list_shows_the_sample_library(api: RunningApi, client: httpx.Client) -> None:
    paths = {d["path"] for d in client.get("/documents").json()}

    assert str(api.samples.pdf) in paths


def test_a_removed_document_is_no_longer_listed(api: RunningApi, client: httpx.Client) -> None:
    collection = client.post("/collections", json={"name": "removal"}).json()["id"]
    job = client.post(
        "/rag/ingest", json={"paths": [str(api.samples.markdown)], "collection_id": collection}
    ).json()
    api.wait_for_job(job["id"])
    document_id = client.get("/documents", params={"collection_id": collection}).json()[0]["id"]

    assert client.delete(f"/documents/{document_id}").status_code == 204
    assert client.get("/documents", params={"collection_id": collection}).json() == []
    assert client.delete(f"/documents/{document_id}").status_code == 404


def test_a_created_collection_is_listed_and_a_deleted_one_is_not(client: httpx.Client) -> None:
    created = client.post("/collections", json={"name": "Recipes"})
    assert created.status_code == 201
    collection_id = created.json()["id"]
    assert "Recipes" in [c["name"] for c in client.get("/collections").json()]

    assert client.delete(f"/collections/{collection_id}").status_code == 204
    assert "Recipes" not in [c["name"] for c in client.get("/collections").json()]


def test_a_collection_name_taken_already_is_refused(client: httpx.Client) -> None:
    client.post("/collections", json={"name": "Twice"})

    response = client.post("/collections", json={"name": "Twice"})

    assert 400 <= response.status_code < 500
    assert "Twice" in response.json()["error"]["message"]


def test_an_answers_sources_read_back_from_history_have_every_field_of_the_live_ones(
    api: RunningApi, client: httpx.Client
) -> None:
    live = client.post("/chat/", json={"message": "When should the bicycle chain be oiled?"})
    answer = live.json()

    history = client.get(f"/conversations/{answer['conversation_id']}").json()

    stored = history["messages"][-1]["sources"]
    assert stored == answer["sources"]
    assert stored[0]["heading_path"] == ["Bicycle care", "Chain"]
    assert stored[0]["char_end"] > stored[0]["char_start"]
    kept = api.orchestrator.conversations.get_message(answer["message_id"]).sources
    assert [{key: s[key] for key in SOURCE_FIELDS} for s in stored] == [
        source.as_dict() for source in kept
    ]
