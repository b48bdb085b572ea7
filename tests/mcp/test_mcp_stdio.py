"""`allma mcp` as an MCP host runs it: a real subprocess on stdio, driven by the SDK's client.

The library is indexed once per module (`allma ingest`, over the Ollama-protocol test
server); each test starts its own `allma mcp` over it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, TextContent

from allma_desktop.services.documents.service import DocumentService
from allma_desktop.sources import SOURCE_FIELDS
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import (
    PDF_ANSWER,
    PDF_ANSWER_PAGE,
    PDF_PAGES,
    PDF_QUESTION,
    SampleLibrary,
    make_sample_library,
)


class IndexedLibrary:
    def __init__(self, env: dict[str, str], samples: SampleLibrary) -> None:
        self.env = env
        self.samples = samples


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IndexedLibrary]:
    root = tmp_path_factory.mktemp("mcp")
    with OllamaTestServer() as ollama:
        env = {
            **os.environ,
            "OLLAMA_HOST": ollama.url,
            "ALLMA_DATA_DIR": str(root / "data"),
            "ALLMA_CONFIG_DIR": str(root / "config"),
            "ALLMA_LOG_DIR": str(root / "logs"),
            "OLLAMA_MODEL": "deepseek-r1:latest",
            "OLLAMA_EMBEDDING_MODEL": "nomic-embed-text:latest",
        }
        samples = make_sample_library(root / "docs")
        indexed = subprocess.run(
            [sys.executable, "-m", "allma_desktop.cli", "ingest", str(samples.folder)],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert indexed.returncode == 2, indexed.stderr  # all indexed but the broken PDF
        yield IndexedLibrary(env, samples)


@asynccontextmanager
async def mcp_session(library: IndexedLibrary, *options: str) -> AsyncIterator[ClientSession]:
    server = StdioServerParameters(
        command=sys.executable,
        args=["-m", "allma_desktop.cli", "mcp", *options],
        env=library.env,
    )
    async with stdio_client(server) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def structured(result: CallToolResult) -> Any:
    assert not result.is_error, result.content
    return result.structured_content


def error_text(result: CallToolResult) -> str:
    assert result.is_error
    first = result.content[0]
    assert isinstance(first, TextContent)
    return first.text


async def test_lists_the_library_tools(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        tools = {tool.name: tool for tool in (await session.list_tools()).tools}
    assert set(tools) == {"search", "ask", "read_page", "list_collections", "list_documents"}
    assert tools["search"].input_schema["required"] == ["query"]
    assert tools["search"].annotations is not None
    assert tools["search"].annotations.read_only_hint is True


async def test_search_finds_the_passage_with_its_file_and_page(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        found = structured(await session.call_tool("search", {"query": "xenon bulb watts"}))
    top = found["passages"][0]
    assert Path(top["file"]).name == library.samples.pdf.name
    assert top["page"] == PDF_ANSWER_PAGE
    assert PDF_ANSWER in top["text"]
    assert top["score"] > 0
    assert top["resource"] == f"allma://document/{top['document_id']}/page/{PDF_ANSWER_PAGE}"


async def test_a_citation_says_its_section_and_where_its_passage_is_in_the_text(
    library: IndexedLibrary,
) -> None:
    question = "When should the bicycle chain be oiled?"
    async with mcp_session(library) as session:
        answered = structured(await session.call_tool("ask", {"question": question}))
    cited = answered["citations"][0]
    assert set(SOURCE_FIELDS) - {"path", "snippet"} <= set(cited)  # as "file" and "text"
    assert Path(cited["file"]).name == library.samples.markdown.name
    assert cited["heading_path"] == ["Bicycle care", "Chain"]
    text = DocumentService().parse(library.samples.markdown).full_text
    assert text[cited["char_start"] : cited["char_end"]] == cited["text"]


async def test_ask_answers_with_numbered_citations(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        answered = structured(await session.call_tool("ask", {"question": PDF_QUESTION}))
    assert PDF_ANSWER in answered["answer"]
    assert answered["complete"] is True
    cited = answered["citations"]
    assert cited, answered
    assert all(f"[{c['number']}]" in answered["answer"] for c in cited)
    assert Path(cited[0]["file"]).name == library.samples.pdf.name
    assert cited[0]["page"] == PDF_ANSWER_PAGE
    grounding = answered["grounding"]  # the answer's sentence checked against its source
    assert grounding["checked"] >= 1 and grounding["supported"] == grounding["checked"]


async def test_read_page_returns_that_page_only(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        page = structured(
            await session.call_tool(
                "read_page", {"document": library.samples.pdf.name, "page": PDF_ANSWER_PAGE}
            )
        )
    assert page["page"] == PDF_ANSWER_PAGE
    assert page["page_count"] == len(PDF_PAGES)
    assert "xenon bulb" in page["text"]
    assert "fog horn" not in page["text"]  # page 4's fact


async def test_documents_and_pages_read_as_resources(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        documents = structured(await session.call_tool("list_documents", {}))["result"]
        pdf = next(d for d in documents if Path(d["file"]).name == library.samples.pdf.name)
        templates = await session.list_resource_templates()
        page = await session.read_resource(f"{pdf['resource']}/page/{PDF_ANSWER_PAGE}")
        whole = await session.read_resource(pdf["resource"])
    assert {t.uri_template for t in templates.resource_templates} == {
        "allma://document/{document_id}",
        "allma://document/{document_id}/page/{page}",
    }
    page_text = page.contents[0].text  # type: ignore[union-attr]
    whole_text = whole.contents[0].text  # type: ignore[union-attr]
    assert "xenon bulb" in page_text and "fog horn" not in page_text
    assert "xenon bulb" in whole_text and "fog horn" in whole_text


async def test_collections_are_listed_with_their_counts(library: IndexedLibrary) -> None:
    async with mcp_session(library) as session:
        collections = structured(await session.call_tool("list_collections", {}))["result"]
        documents = structured(await session.call_tool("list_documents", {}))["result"]
    assert [c["name"] for c in collections] == ["Library"]
    assert collections[0]["documents"] == len([d for d in documents if d["status"] == "ready"])
    assert {d["status"] for d in documents} == {"ready", "failed"}  # broken.pdf is listed too


async def test_invalid_arguments_are_tool_errors_and_the_server_goes_on(
    library: IndexedLibrary,
) -> None:
    async with mcp_session(library) as session:
        bad_k = error_text(await session.call_tool("search", {"query": "lamp", "k": 0}))
        no_collection = error_text(
            await session.call_tool("search", {"query": "lamp", "collection": "Recipes"})
        )
        no_page = error_text(
            await session.call_tool("read_page", {"document": library.samples.pdf.name, "page": 9})
        )
        no_document = error_text(await session.call_tool("read_page", {"document": "nothing.pdf"}))
        still_there = structured(await session.call_tool("list_collections", {}))
    assert "k" in bad_k and "greater than or equal to 1" in bad_k
    assert "no collection named 'Recipes'" in no_collection and "'Library'" in no_collection
    assert f"has {len(PDF_PAGES)} pages" in no_page
    assert "No document 'nothing.pdf'" in no_document and "list_documents" in no_document
    assert still_there["result"]


async def test_with_an_allowed_folder_files_in_it_can_be_added_and_others_not(
    library: IndexedLibrary, tmp_path: Path
) -> None:
    allowed = tmp_path / "inbox"
    allowed.mkdir()
    note = allowed / "kettle.md"
    note.write_text("# Kettle\n\nThe copper kettle is descaled with vinegar every March.\n")
    outside = tmp_path / "private.md"
    outside.write_text("Not for the library.\n")

    async with mcp_session(library, "--allow-add", str(allowed)) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        added = structured(await session.call_tool("add_files", {"paths": [str(allowed)]}))
        found = structured(await session.call_tool("search", {"query": "copper kettle vinegar"}))
        refused = error_text(await session.call_tool("add_files", {"paths": [str(outside)]}))

    assert "add_files" in tools
    assert [(Path(f["file"]).name, f["status"]) for f in added["files"]] == [
        ("kettle.md", "indexed")
    ]
    assert Path(found["passages"][0]["file"]).name == "kettle.md"
    assert "outside the folders" in refused
