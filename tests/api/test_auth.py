"""The bearer token: required everywhere but /health, created private, and CORS closed."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx

from allma_desktop.api.token_file import api_token, token_path
from tests.api.conftest import RunningApi


def test_a_request_without_a_token_is_401(api: RunningApi) -> None:
    response = httpx.get(f"{api.url}/collections")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_a_request_with_a_wrong_token_is_401(api: RunningApi) -> None:
    response = httpx.get(f"{api.url}/collections", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


def test_a_request_with_the_right_token_is_served(api: RunningApi) -> None:
    response = httpx.get(f"{api.url}/collections", headers=api.auth)

    assert response.status_code == 200


def test_the_openapi_document_needs_the_token_too(api: RunningApi) -> None:
    assert httpx.get(f"{api.url}/openapi.json").status_code == 401
    assert httpx.get(f"{api.url}/openapi.json", headers=api.auth).status_code == 200


def test_the_token_is_created_once_readable_by_the_user_only(tmp_path: Path) -> None:
    first = api_token(tmp_path)

    assert len(first) >= 32
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600
    assert api_token(tmp_path) == first


def test_the_token_lives_next_to_the_settings_file(tmp_path: Path) -> None:
    assert token_path(tmp_path).parent == tmp_path


def test_a_web_page_on_another_origin_gets_no_cors_permission(api: RunningApi) -> None:
    response = httpx.options(
        f"{api.url}/collections",
        headers={
            "Origin": "https://evil.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert "access-control-allow-origin" not in response.headers
