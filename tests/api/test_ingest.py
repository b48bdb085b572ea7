"""/rag/ingest: paths on this machine and uploads, as jobs that can be followed and cancelled."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from tests.api.conftest import RunningApi
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import TEXT_FACT


def new_collection(client: httpx.Client, name: str) -> int:
    response = client.post("/collections", json={"name": name})
    assert response.status_code == 201
    return int(response.json()["id"])


def test_ingesting_a_path_returns_a_job_that_ends_with_the_file_indexed(
    api: RunningApi, client: httpx.Client, docs_root: Path
) -> None:
    folder = docs_root / "ingest-path"
    folder.mkdir()
    note = folder / "note.txt"
    note.write_text("The garden gate is painted green every spring.", encoding="utf-8")
    collection = new_collection(client, "ingest-path")

    response = client.post("/rag/ingest", json={"paths": [str(note)], "collection_id": collection})
    assert response.status_code == 202
    job_id = response.json()["id"]
    api.wait_for_job(job_id)
    job = client.get(f"/rag/ingest/{job_id}").json()

    assert job["status"] == "finished"
    assert job["files_done"] == 1
    assert [(r["path"], r["status"]) for r in job["results"]] == [(str(note), "indexed")]
    assert "documents" in api.changes


def test_uploaded_files_are_stored_under_the_data_folder_and_indexed(
    api: RunningApi, client: httpx.Client
) -> None:
    collection = new_collection(client, "uploads")
    files = [("files", ("recipe.txt", TEXT_FACT.encode() * 200, "text/plain"))]

    response = client.post("/rag/ingest", files=files, data={"collection_id": str(collection)})
    assert response.status_code == 202
    api.wait_for_job(response.json()["id"])
    job = client.get(f"/rag/ingest/{response.json()['id']}").json()

    result = job["results"][0]
    assert result["status"] == "indexed"
    stored = Path(result["path"])
    assert stored.is_relative_to(api.config.data_dir / "uploads")
    assert stored.name == "recipe.txt"
    assert stored.read_bytes() == TEXT_FACT.encode() * 200


def test_an_upload_without_a_plain_file_name_is_refused(client: httpx.Client) -> None:
    files = [("files", ("../../.bashrc", b"echo hi", "text/plain"))]

    response = client.post("/rag/ingest", files=files)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"


def test_an_upload_whose_force_field_is_no_boolean_is_refused(client: httpx.Client) -> None:
    files = [("files", ("notes.txt", b"some notes", "text/plain"))]

    response = client.post("/rag/ingest", files=files, data={"force": "{}"})

    assert response.status_code == 422
    assert "force" in response.text and "true or false" in response.text


def test_a_pipe_is_refused(client: httpx.Client, docs_root: Path) -> None:
    fifo = docs_root / "pipe.txt"
    os.mkfifo(fifo)

    response = client.post("/rag/ingest", json={"paths": [str(fifo)]})

    assert response.status_code == 403
    assert "not a regular file" in response.json()["error"]["message"]


def test_a_device_file_is_refused(client: httpx.Client) -> None:
    response = client.post("/rag/ingest", json={"paths": ["/dev/zero"]})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "path_not_allowed"


def test_a_relative_path_is_refused(client: httpx.Client) -> None:
    response = client.post("/rag/ingest", json={"paths": ["docs/notes.txt"]})

    assert response.status_code == 403
    assert "absolute" in response.json()["error"]["message"]


def test_a_missing_path_is_404(client: httpx.Client, docs_root: Path) -> None:
    response = client.post("/rag/ingest", json={"paths": [str(docs_root / "nothing-here.txt")]})

    assert response.status_code == 404


def test_a_link_inside_a_named_folder_is_not_followed_out_of_it(
    api: RunningApi, client: httpx.Client, docs_root: Path
) -> None:
    outside = docs_root / "private.txt"
    outside.write_text("A secret that was never named.", encoding="utf-8")
    folder = docs_root / "with-link"
    folder.mkdir()
    (folder / "named.txt").write_text("The kettle whistles when boiling.", encoding="utf-8")
    (folder / "sneaky.txt").symlink_to(outside)
    collection = new_collection(client, "with-link")

    response = client.post(
        "/rag/ingest", json={"paths": [str(folder)], "collection_id": collection}
    )
    api.wait_for_job(response.json()["id"])
    job = client.get(f"/rag/ingest/{response.json()['id']}").json()

    read = {Path(r["path"]).name for r in job["results"]}
    assert read == {"named.txt"}


def test_cancelling_a_job_stops_it_before_every_file_is_indexed(
    api: RunningApi, client: httpx.Client, docs_root: Path, ollama_server: OllamaTestServer
) -> None:
    folder = docs_root / "many"
    folder.mkdir()
    for number in range(6):
        (folder / f"note-{number}.txt").write_text(f"Note number {number} about owls.")
    collection = new_collection(client, "many")
    ollama_server.faults.embed_delay = 0.2  # a slow embedder, so the job is still running
    try:
        job_id = client.post(
            "/rag/ingest", json={"paths": [str(folder)], "collection_id": collection}
        ).json()["id"]
        cancelled = client.delete(f"/rag/ingest/{job_id}")
        api.wait_for_job(job_id)
    finally:
        ollama_server.faults.embed_delay = 0.0
    job = client.get(f"/rag/ingest/{job_id}").json()

    assert cancelled.status_code == 200
    assert job["status"] == "cancelled"
    assert len([r for r in job["results"] if r["status"] == "indexed"]) < 6


def test_an_unknown_job_is_404(client: httpx.Client) -> None:
    response = client.get("/rag/ingest/0123456789abcdef")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_ingesting_into_a_missing_collection_is_404(client: httpx.Client, docs_root: Path) -> None:
    response = client.post("/rag/ingest", json={"paths": [str(docs_root)], "collection_id": 424242})

    assert response.status_code == 404


def test_a_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = client.post("/rag/search", json={"query": "x" * (5 * 1024 * 1024)})

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


def test_a_streamed_body_without_length_over_the_limit_is_413(client: httpx.Client) -> None:
    pieces = (b"x" * (1024 * 1024) for _ in range(6))

    response = client.post(
        "/rag/search", content=pieces, headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 413
