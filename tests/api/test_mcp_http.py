"""The MCP server over streamable HTTP at /mcp: the SDK's client with the token, refused without."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.api.conftest import RunningApi
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@asynccontextmanager
async def mcp_session(api: RunningApi, headers: dict[str, str]) -> AsyncIterator[ClientSession]:
    async with (
        create_mcp_http_client(headers=headers) as http,
        streamable_http_client(f"{api.url}/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def test_an_mcp_client_with_the_token_searches_the_library(api: RunningApi) -> None:
    async with mcp_session(api, api.auth) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        found = await session.call_tool("search", {"query": "xenon bulb watts"})
    assert {"search", "ask", "read_page", "list_collections", "list_documents"} <= tools
    assert not found.is_error
    assert found.structured_content is not None
    top = found.structured_content["passages"][0]
    assert Path(top["file"]).name == api.samples.pdf.name
    assert top["page"] == PDF_ANSWER_PAGE
    assert PDF_ANSWER in top["text"]


async def test_an_ask_over_mcp_is_answered_and_the_app_told_of_the_new_chat(
    api: RunningApi,
) -> None:
    api.changes.clear()
    async with mcp_session(api, api.auth) as session:
        answered = await session.call_tool("ask", {"question": PDF_QUESTION})

    assert not answered.is_error, answered.content
    assert answered.structured_content is not None
    assert PDF_ANSWER in answered.structured_content["answer"]
    assert answered.structured_content["citations"][0]["page"] == PDF_ANSWER_PAGE
    assert "conversations" in api.changes


def test_mcp_without_the_token_is_refused(api: RunningApi) -> None:
    response = httpx.post(f"{api.url}/mcp", json=INITIALIZE, headers=MCP_HEADERS)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"


def test_mcp_with_a_wrong_token_is_refused(api: RunningApi) -> None:
    headers = {**MCP_HEADERS, "Authorization": "Bearer not-the-token"}
    response = httpx.post(f"{api.url}/mcp", json=INITIALIZE, headers=headers)

    assert response.status_code == 401


def test_mcp_with_the_token_but_a_foreign_host_is_refused(api: RunningApi) -> None:
    # A page on another site whose name was made to resolve to 127.0.0.1 (DNS rebinding).
    headers = {**MCP_HEADERS, **api.auth, "Host": "evil.example:8000"}
    response = httpx.post(f"{api.url}/mcp", json=INITIALIZE, headers=headers)

    assert response.status_code == 421


def test_the_mcp_endpoint_is_not_in_the_openapi_document(api: RunningApi) -> None:
    document = httpx.get(f"{api.url}/openapi.json", headers=api.auth).json()

    assert "/mcp" not in document["paths"]
