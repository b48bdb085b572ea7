"""/watch/folders, and ingest jobs through the indexer's queue when this process runs it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import RunningApi
from tests.api.test_ingest import new_collection

WAIT_SECONDS = 60.0


@pytest.fixture(scope="module", autouse=True)
def indexer_running(api: RunningApi) -> None:
    """As in `allma serve` and the app: the queue and the watched folders run here."""
    api.run(api.orchestrator.indexer.start(watch=True))


def wait_until_found(client: httpx.Client, collection: int, query: str, name: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        body = {"query": query, "collection_id": collection}
        hits = client.post("/rag/search", json=body).json()["results"]
        if any(Path(hit["path"]).name == name for hit in hits):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} never became searchable")


def test_a_folder_added_through_the_api_is_indexed_listed_and_can_be_unwatched(
    client: httpx.Client, docs_root: Path
) -> None:
    folder = docs_root / "watched"
    folder.mkdir()
    (folder / "otters.txt").write_text("The otters of the mill pond sleep in the reeds.\n")
    collection = new_collection(client, "watched")

    added = client.post("/watch/folders", json={"path": str(folder), "collection_id": collection})
    assert added.status_code == 201, added.text
    assert added.json()["path"] == str(folder.resolve())
    wait_until_found(client, collection, "otters mill pond reeds", "otters.txt")

    (folder / "herons.txt").write_text("Grey herons stand still at the weir before dawn.\n")
    wait_until_found(client, collection, "grey herons weir dawn", "herons.txt")

    listed = client.get("/watch/folders").json()
    assert [(f["path"], f["state"]) for f in listed] == [(str(folder.resolve()), "watching")]

    assert client.delete("/watch/folders", params={"path": str(folder)}).status_code == 204
    assert client.get("/watch/folders").json() == []
    missing = client.delete("/watch/folders", params={"path": str(folder)})
    assert missing.status_code == 404 and "not a watched folder" in missing.text


def test_a_folder_outside_the_allowed_folders_is_refused(client: httpx.Client) -> None:
    response = client.post("/watch/folders", json={"path": "/etc"})
    assert response.status_code in (400, 403), response.text
    assert "outside the folders" in response.text


def test_an_ingest_job_goes_through_the_queue_and_ends_with_its_files(
    api: RunningApi, client: httpx.Client, docs_root: Path
) -> None:
    folder = docs_root / "queued-job"
    folder.mkdir()
    notes = []
    for n in range(3):
        note = folder / f"note-{n}.txt"
        note.write_text(f"Note {n}: the lock keeper's log for day {n}.\n")
        notes.append(note)
    collection = new_collection(client, "queued-job")

    body = {"paths": [str(folder)], "collection_id": collection}
    response = client.post("/rag/ingest", json=body)
    assert response.status_code == 202
    job_id = response.json()["id"]
    api.wait_for_job(job_id)
    job = client.get(f"/rag/ingest/{job_id}").json()

    assert job["status"] == "finished"
    assert sorted((r["path"], r["status"]) for r in job["results"]) == [
        (str(n.resolve()), "indexed") for n in notes
    ]
    assert api.orchestrator.indexer.queued() == []


def test_watching_a_folder_twice_or_inside_a_watched_one_is_a_409_conflict(
    client: httpx.Client, docs_root: Path
) -> None:
    # Found by the 10-minute Schemathesis run: a valid request that clashes with the
    # library's state was answered 400 ("the request is wrong") with the code "error".
    folder = docs_root / "watched-twice"
    (folder / "inner").mkdir(parents=True)
    collection = new_collection(client, "watched-twice")
    body = {"path": str(folder), "collection_id": collection}
    assert client.post("/watch/folders", json=body).status_code == 201
    try:
        for path in (folder, folder / "inner"):
            again = client.post("/watch/folders", json={**body, "path": str(path)})
            assert again.status_code == 409, again.text
            error = again.json()["error"]
            assert error["code"] == "conflict" and "already watched" in error["message"]
            assert error["hint"]
    finally:
        assert client.delete("/watch/folders", params={"path": str(folder)}).status_code == 204
