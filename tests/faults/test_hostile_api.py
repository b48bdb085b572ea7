"""The local API against hostile requests: foreign Host names, paths outside the allowed
folders, out-of-range ids in uploads, failed uploads, client errors passed off as 502."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allma_desktop.allowed_paths import is_path_allowed
from allma_desktop.api.host_check import AllowedHosts
from allma_desktop.config import AppConfig
from tests.api.conftest import RunningApi, running_api
from tests.support.ollama_server import OllamaTestServer


@pytest.fixture(scope="module")
def server() -> Iterator[OllamaTestServer]:
    with OllamaTestServer() as running:
        yield running


@pytest.fixture(scope="module")
def api(server: OllamaTestServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApi]:
    with running_api(server, tmp_path_factory.mktemp("hostile")) as running:
        yield running


def _error(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, str] = body["error"]
    assert error["message"] and error["hint"]
    return error


@pytest.mark.parametrize("path", ["/health", "/documents", "/openapi.json"])
def test_a_foreign_host_name_is_refused_on_every_route_even_with_the_token(
    api: RunningApi, path: str
) -> None:
    response = httpx.get(f"{api.url}{path}", headers={**api.auth, "Host": "attacker.example"})
    assert response.status_code == 421  # Misdirected Request
    error = _error(response)
    assert error["code"] == "host_not_allowed"
    assert "attacker.example" in error["message"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST:8000", "[::1]:8000"])
def test_loopback_host_names_are_served(api: RunningApi, host: str) -> None:
    response = httpx.get(f"{api.url}/documents", headers={**api.auth, "Host": host})
    assert response.status_code == 200


def test_the_configured_address_and_names_the_user_added_are_served() -> None:
    on_lan = AllowedHosts("192.168.1.20", extra=["allma.home.arpa"])
    assert on_lan.allows("192.168.1.20:8000") and on_lan.allows("allma.home.arpa")
    assert not on_lan.allows("rebind.attacker.example")
    everywhere = AllowedHosts("0.0.0.0")
    assert everywhere.allows("10.0.0.5:8000")  # an address cannot be rebound
    assert not everywhere.allows("rebind.attacker.example:8000")


def test_health_without_a_token_reveals_nothing_about_the_machine(api: RunningApi) -> None:
    summary = httpx.get(f"{api.url}/health").json()
    assert summary == {"ok": True, "status": "up"}
    full = httpx.get(f"{api.url}/health", headers=api.auth).json()
    assert full["store"]["path"] == str(api.config.data_dir)


def test_ingesting_a_system_folder_or_a_folder_outside_the_allowed_ones_is_refused(
    api: RunningApi, tmp_path: Path
) -> None:
    outside = tmp_path / "private.txt"
    outside.write_text("a private note", encoding="utf-8")
    os.chmod(outside, 0o600)
    link = api.samples.folder / "passwd-link"
    link.symlink_to("/etc/passwd")
    try:
        with api.client() as client:
            for path in ("/etc", str(outside), str(link)):
                response = client.post("/rag/ingest", json={"paths": [path]})
                assert response.status_code == 403, (path, response.text)
                error = _error(response)
                assert error["code"] == "path_not_allowed"
                assert path in error["message"]
    finally:
        link.unlink()
    found = [d["path"] for d in httpx.get(f"{api.url}/documents", headers=api.auth).json()]
    assert not any(p.startswith("/etc") or p == str(outside) for p in found)


def test_is_path_allowed_defaults_to_home_and_never_allows_system_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home" / "papers").mkdir(parents=True)
    default = AppConfig(data_dir=tmp_path / "data")
    assert is_path_allowed(tmp_path / "home" / "papers", default)
    assert not is_path_allowed(tmp_path / "elsewhere", default)
    assert is_path_allowed(tmp_path / "elsewhere", default, extra_folders=[tmp_path])
    everything = default.with_changes(allowed_folders=["/"])
    for system in ("/etc/passwd", "/proc/self/environ", "/dev/sda", "/sys/kernel"):
        assert not is_path_allowed(system, everything), system
    assert AppConfig.from_env(
        {"ALLMA_ALLOWED_FOLDERS": f"/a{os.pathsep}/b"}, settings_file=tmp_path / "none.json"
    ).allowed_folders == ("/a", "/b")


@pytest.mark.parametrize("value", [str(2**63), str(2**64 + 5), "-1", "0", "1e3"])
def test_an_out_of_range_collection_id_in_an_upload_is_a_422_and_leaves_no_file(
    api: RunningApi, value: str
) -> None:
    files = [("files", ("note.txt", b"A note about otters.", "text/plain"))]
    with api.client() as client:
        response = client.post("/rag/ingest", files=files, data={"collection_id": value})
    assert response.status_code == 422, response.text
    assert _error(response)["field"] == "collection_id"
    assert not list((api.config.data_dir / "uploads").rglob("note.txt"))


def test_an_upload_to_a_missing_collection_is_a_404_and_leaves_no_file(api: RunningApi) -> None:
    files = [("files", ("orphan.txt", b"A note about beavers.", "text/plain"))]
    with api.client() as client:
        response = client.post("/rag/ingest", files=files, data={"collection_id": "999999"})
    assert response.status_code == 404
    assert not list((api.config.data_dir / "uploads").rglob("orphan.txt"))


def test_an_upload_that_fails_to_index_is_removed_from_disk(api: RunningApi) -> None:
    files = [
        ("files", ("broken.pdf", b"%PDF-1.7 this is not really a PDF", "application/pdf")),
        ("files", ("kept.txt", b"Herons nest in tall trees near water.", "text/plain")),
    ]
    with api.client() as client:
        started = client.post("/rag/ingest", files=files)
        assert started.status_code == 202
        api.wait_for_job(started.json()["id"])
        job = client.get(f"/rag/ingest/{started.json()['id']}").json()
    statuses = {Path(r["path"]).name: r["status"] for r in job["results"]}
    assert statuses == {"broken.pdf": "failed", "kept.txt": "indexed"}
    uploads = api.config.data_dir / "uploads"
    assert not list(uploads.rglob("broken.pdf"))
    assert len(list(uploads.rglob("kept.txt"))) == 1


def test_asking_an_embedding_model_to_chat_is_a_client_error_not_a_502(api: RunningApi) -> None:
    with api.client() as client:
        response = client.post(
            "/chat/", json={"message": "hello", "model": "nomic-embed-text:latest"}
        )
    # 422, not 400: the request is well formed (the Schemathesis run flagged the 400).
    assert response.status_code == 422, response.text
    error = _error(response)
    assert error["code"] == "wrong_model_kind"
    assert "nomic-embed-text" in error["message"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/", '{"message": "caf\\udce9 \\ud800?"}'),
        ("/rag/search", '{"query": "caf\\udce9"}'),
        ("/collections", '{"name": "caf\\udce9"}'),
    ],
)
def test_text_with_lone_surrogates_in_a_request_is_never_a_500(
    api: RunningApi, path: str, body: str
) -> None:
    with api.client() as client:
        response = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code < 500, response.text


def test_an_upload_with_a_field_the_api_does_not_know_is_a_422_and_leaves_no_file(
    api: RunningApi,
) -> None:
    # Found by the 10-minute Schemathesis run: unknown fields were ignored (a misspelt
    # `collection` indexed into the default collection) and eleven of them made a 400.
    files = {"files": ("stray.txt", b"a note\n", "text/plain")}
    with api.client() as client:
        for extra in ({"collection": "2"}, {f"x{n}": "1" for n in range(11)}):
            response = client.post("/rag/ingest", files=files, data=extra)
            assert response.status_code in (400, 422), response.text
            assert response.json()["error"]["code"] in ("invalid_request", "bad_request")
            if len(extra) == 1:
                assert response.status_code == 422
                assert response.json()["error"]["field"] == "collection"
    assert not list((api.config.data_dir / "uploads").rglob("stray.txt"))


def test_allmas_own_data_folder_is_neither_ingested_nor_watched_through_the_api(
    api: RunningApi,
) -> None:
    # Found by the 10-minute Schemathesis run: it watched the data folder (inside the
    # allowed folders), so the library's own database and vectors were "documents".
    data = api.config.data_dir
    with api.client() as client:
        for path in (data, data / "allma.sqlite3"):
            response = client.post("/rag/ingest", json={"paths": [str(path)]})
            assert response.status_code == 403, response.text
            assert "own data folder" in _error(response)["message"]
        watched = client.post("/watch/folders", json={"path": str(data)})
        assert watched.status_code == 403, watched.text
        assert "own data folder" in _error(watched)["message"]
        # The folder around it (here the allowed root) may still be indexed.
        assert (
            client.post("/rag/ingest", json={"paths": [str(api.samples.folder)]}).status_code == 202
        )


@pytest.mark.parametrize("path", ["~nosuchuser8d2f/notes", "~\\udb47\\uddcb/x"])
def test_a_path_naming_the_home_of_an_unknown_user_is_refused_not_a_500(
    api: RunningApi, path: str
) -> None:
    # Found by the 10-minute Schemathesis run: `~name` of no such user raised from
    # expanduser() ("Could not determine home directory") and answered 500. ``path`` is
    # JSON string text: the second names a user with a lone surrogate in it.
    headers = {"Content-Type": "application/json"}
    with api.client() as client:
        ingested = client.post("/rag/ingest", content=f'{{"paths": ["{path}"]}}', headers=headers)
        watched = client.post("/watch/folders", content=f'{{"path": "{path}"}}', headers=headers)
    for response in (ingested, watched):
        assert response.status_code == 403, response.text
        assert "unknown user" in _error(response)["message"]


@pytest.mark.parametrize("name", ["\x1d\x1d", " \t "])
def test_a_collection_name_of_blanks_is_a_422_not_a_400(api: RunningApi, name: str) -> None:
    # Found by the 10-minute Schemathesis run: "\x1d\x1d" meets the schema (one character
    # at least) and strips to nothing; a valid request refused must not be a 400.
    with api.client() as client:
        response = client.post("/collections", json={"name": name})
    assert response.status_code == 422, response.text
    assert _error(response)["code"] in ("invalid_name", "invalid_request")  # ours, or pydantic's
    assert _error(response)["hint"]


@pytest.mark.parametrize("field", ["force", "collection_id"])
def test_an_upload_giving_a_single_field_twice_is_a_422_and_leaves_no_file(
    api: RunningApi, field: str
) -> None:
    # Found by the 10-minute Schemathesis run: `force` sent twice (an array, where the
    # schema says boolean) was read as its last value and accepted.
    files = [("files", ("twice.txt", b"a note\n", "text/plain"))]
    value = "true" if field == "force" else "1"
    with api.client() as client:
        response = client.post("/rag/ingest", files=files, data={field: [value, value]})
    assert response.status_code == 422, response.text
    assert _error(response)["field"] == field
    assert not list((api.config.data_dir / "uploads").rglob("twice.txt"))
