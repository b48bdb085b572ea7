"""The seed's endpoints over a real server: /health, /chat/, /rag/search, /models/."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.api.conftest import RunningApi
from tests.api.test_ingest import new_collection
from tests.orchestrator.test_whole_documents import long_pdf
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION


def sse_events(response: httpx.Response) -> list[tuple[str, dict[str, object]]]:
    events: list[tuple[str, dict[str, object]]] = []
    name = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, json.loads(line.removeprefix("data: "))))
    return events


def test_health_without_a_token_says_only_up_or_down(api: RunningApi) -> None:
    response = httpx.get(f"{api.url}/health")

    assert response.status_code == 200
    assert response.json() == {"ok": True, "status": "up"}  # no path, address, models, counts


def test_health_with_the_token_reports_ollama_and_the_library(api: RunningApi) -> None:
    response = httpx.get(f"{api.url}/health", headers=api.auth)

    assert response.status_code == 200
    health = response.json()
    assert health["ok"] is True
    assert health["ollama"]["reachable"] is True
    assert health["ollama"]["version"]
    assert "deepseek-r1:latest" in health["ollama"]["models"]
    assert health["store"]["writable"] is True
    assert health["documents"] >= 4 and health["chunks"] > 0


def test_chat_answers_with_the_cited_page_as_one_json_object(client: httpx.Client) -> None:
    response = client.post("/chat/", json={"message": PDF_QUESTION})

    assert response.status_code == 200
    answer = response.json()
    assert PDF_ANSWER in answer["answer"]
    cited = answer["sources"][0]
    assert cited["path"].endswith("lighthouse-manual.pdf")
    assert cited["page"] == PDF_ANSWER_PAGE
    assert cited["snippet"] and cited["score"] > 0
    assert "thinking" in answer and answer["error"] is None


def test_chat_answer_carries_its_check_against_the_sources(client: httpx.Client) -> None:
    answer = client.post("/chat/", json={"message": PDF_QUESTION}).json()

    grounding = answer["grounding"]
    assert (grounding["checked"], grounding["supported"]) == (1, 1)
    assert grounding["summary"] == "1 of 1 sentence supported by their sources"
    assert grounding["sentences"][0]["cited"] == [answer["sources"][0]["number"]]
    assert answer["sources"][0]["checked_sentences"] == 1
    assert answer["sources"][0]["supported_sentences"] == 1
    detail = client.get(f"/conversations/{answer['conversation_id']}").json()
    assert detail["messages"][-1]["grounding"] == grounding  # kept with the answer


def test_chat_streams_tokens_before_the_answer_has_ended(
    api: RunningApi, client: httpx.Client, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.token_delay = 0.05
    try:
        headers = {"Accept": "text/event-stream"}
        with client.stream("POST", "/chat/", json={"message": PDF_QUESTION}, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            lines = r.iter_lines()
            for line in lines:
                if line == "event: token":
                    break
            assert not ollama_server.streams[-1].completed  # Ollama is still answering
            rest = "\n".join(lines)
    finally:
        ollama_server.faults.token_delay = 0.0
    assert "event: done" in rest
    done = json.loads(rest.split("event: done\ndata: ", 1)[1].splitlines()[0])
    assert PDF_ANSWER in done["answer"]
    assert done["sources"][0]["page"] == PDF_ANSWER_PAGE
    assert done["grounding"]["supported"] == 1  # the check came before "done"


def test_streamed_chat_sends_started_sources_and_done_events(client: httpx.Client) -> None:
    headers = {"Accept": "text/event-stream"}
    with client.stream("POST", "/chat/", json={"message": PDF_QUESTION}, headers=headers) as r:
        names = [name for name, _data in sse_events(r)]

    assert names[0] == "started"
    assert names[1] == "sources"
    assert "token" in names
    assert names[-1] == "done"


def test_chat_continues_a_conversation_by_id(client: httpx.Client) -> None:
    first = client.post("/chat/", json={"message": PDF_QUESTION}).json()

    second = client.post(
        "/chat/",
        json={
            "message": "And what is the radio channel?",
            "conversation_id": first["conversation_id"],
        },
    ).json()

    assert second["conversation_id"] == first["conversation_id"]


def test_chat_with_a_missing_model_is_404_with_the_pull_command(client: httpx.Client) -> None:
    response = client.post("/chat/", json={"message": "hello", "model": "nosuchmodel:7b"})

    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "model_missing"
    assert "nosuchmodel:7b" in error["message"]
    assert "allma pull nosuchmodel:7b" in error["hint"]


def test_chat_when_ollama_fails_is_an_error_with_the_fix(
    client: httpx.Client, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.status_500 = True
    try:
        response = client.post("/chat/", json={"message": "hello", "use_documents": False})
    finally:
        ollama_server.faults.status_500 = False

    assert response.status_code >= 500
    assert response.json()["error"]["hint"]
    assert "Traceback" not in response.text


def test_chat_in_a_conversation_that_does_not_exist_is_404(client: httpx.Client) -> None:
    response = client.post("/chat/", json={"message": "hello", "conversation_id": 987654})

    assert response.status_code == 404
    assert "987654" in response.json()["error"]["message"]


def test_chat_without_a_message_is_422_naming_the_field(client: httpx.Client) -> None:
    response = client.post("/chat/", json={"conversation_id": 1})

    assert response.status_code == 422
    assert response.json()["error"]["field"] == "message"


def test_search_finds_the_page_with_the_answer(client: httpx.Client) -> None:
    response = client.post("/rag/search", json={"query": PDF_QUESTION, "k": 3})

    assert response.status_code == 200
    best = response.json()["results"][0]
    assert best["path"].endswith("lighthouse-manual.pdf")
    assert best["page"] == PDF_ANSWER_PAGE


def test_models_lists_what_ollama_has_and_the_configured_models(client: httpx.Client) -> None:
    response = client.get("/models/")

    assert response.status_code == 200
    body = response.json()
    names = [m["name"] for m in body["models"]]
    assert "deepseek-r1:latest" in names
    assert body["chat_model"] == "deepseek-r1:latest"
    assert body["embedding_model"] == "nomic-embed-text:latest"


def test_chat_in_whole_document_mode_says_which_documents_it_read(client: httpx.Client) -> None:
    answer = client.post("/chat/", json={"message": PDF_QUESTION, "context_mode": "whole"}).json()
    assert "Lighthouse Manual" in answer["whole_documents"]
    assert PDF_ANSWER in answer["answer"]
    assert [s["page"] for s in answer["sources"]] == [PDF_ANSWER_PAGE]
    conversation = client.get(f"/conversations/{answer['conversation_id']}").json()
    assert conversation["context_mode"] == "whole"
    # The message listing says which answer was made from the documents read whole.
    question, stored = conversation["messages"][-2:]
    assert (question["role"], question["whole_documents"]) == ("user", [])
    assert stored["id"] == answer["message_id"]
    assert stored["whole_documents"] == answer["whole_documents"]
    assert "Lighthouse Manual" in stored["whole_documents"]


def test_chat_in_passages_mode_reads_passages_and_the_stream_says_so(client: httpx.Client) -> None:
    with client.stream(
        "POST",
        "/chat/",
        json={"message": PDF_QUESTION, "context_mode": "passages"},
        headers={"Accept": "text/event-stream"},
    ) as response:
        events = sse_events(response)
    sources = next(data for name, data in events if name == "sources")
    assert sources["whole_documents"] == []
    done = next(data for name, data in events if name == "done")
    assert done["whole_documents"] == []
    listed = client.get(f"/conversations/{done['conversation_id']}").json()["messages"]
    assert listed[-1]["whole_documents"] == []


def test_a_conversations_context_mode_is_changed_and_checked(client: httpx.Client) -> None:
    answer = client.post("/chat/", json={"message": PDF_QUESTION}).json()
    path = f"/conversations/{answer['conversation_id']}"
    assert client.get(path).json()["context_mode"] == "auto"
    changed = client.patch(path, json={"context_mode": "passages"})
    assert changed.status_code == 200 and changed.json()["context_mode"] == "passages"
    refused = client.patch(path, json={"context_mode": "chapters"})
    assert refused.status_code == 422
    assert client.patch("/conversations/999999", json={"context_mode": "whole"}).status_code == 404


def test_a_summary_of_documents_too_long_says_how_many_parts_it_took(
    api: RunningApi, client: httpx.Client, docs_root: Path
) -> None:
    folder = docs_root / "harbour"
    folder.mkdir()
    collection = new_collection(client, "harbour")
    job = client.post(
        "/rag/ingest", json={"paths": [str(long_pdf(folder))], "collection_id": collection}
    )
    api.wait_for_job(job.json()["id"])
    answer = client.post(
        "/chat/",
        json={
            "message": "Summarise the harbour notes",
            "context_mode": "whole",
            "collection_id": collection,
        },
    ).json()
    assert answer["whole_documents"] == ["Harbour"] and answer["summary_parts"] >= 3
    assert answer["sources"] and answer["sources"][0]["page"] is not None
    listed = client.get(f"/conversations/{answer['conversation_id']}").json()["messages"]
    assert (listed[-1]["whole_documents"], listed[-1]["summary_parts"]) == (
        ["Harbour"],
        answer["summary_parts"],
    )
