"""The `allma` command as a user runs it: a real subprocess, real HTTP to the test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from allma_desktop.orchestrator import Orchestrator
from tests.orchestrator.test_whole_documents import long_pdf
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import PDF_ANSWER, PDF_ANSWER_PAGE, PDF_QUESTION, SampleLibrary


def allma(
    env: dict[str, str], *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "allma_desktop.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_ingest_ask_and_reingest_as_a_user_would(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    first = allma(app_env, "ingest", "--json", str(sample_library.folder))
    assert first.returncode == 2, first.stderr  # one file failed, the rest were indexed
    results = {Path(r["path"]).name: r for r in json.loads(first.stdout)}
    assert results["broken.pdf"]["status"] == "failed"
    assert results["broken.pdf"]["reason"]
    assert {r["status"] for n, r in results.items() if n != "broken.pdf"} == {"indexed"}

    again = allma(app_env, "ingest", "--json", str(sample_library.folder))
    statuses = {Path(r["path"]).name: r["status"] for r in json.loads(again.stdout)}
    assert statuses.pop("broken.pdf") == "failed"
    assert set(statuses.values()) == {"unchanged"}

    asked = allma(app_env, "ask", "--json", PDF_QUESTION)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert PDF_ANSWER in answer["answer"]
    assert answer["thinking"]
    top = answer["sources"][0]
    assert Path(top["path"]).name == "lighthouse-manual.pdf"
    assert top["page"] == PDF_ANSWER_PAGE
    assert isinstance(top["score"], float) and top["snippet"]


def test_ask_prints_the_answer_then_sources_with_file_and_page(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.pdf))
    asked = allma(app_env, "ask", PDF_QUESTION)
    assert asked.returncode == 0, asked.stderr
    assert PDF_ANSWER in asked.stdout
    assert f"lighthouse-manual.pdf, page {PDF_ANSWER_PAGE}" in asked.stdout


def test_ask_json_carries_the_answers_check_against_its_sources(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.pdf))
    asked = allma(app_env, "ask", "--json", PDF_QUESTION)
    answer = json.loads(asked.stdout)
    assert answer["grounding"]["summary"] == "1 of 1 sentence supported by their sources"
    assert answer["sources"][0]["supported_sentences"] == 1
    plain = allma(app_env, "ask", PDF_QUESTION)
    assert "Checked: 1 of 1 sentence supported by their sources." in plain.stdout


def test_search_json_lists_sources_with_path_page_score_snippet(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.folder))
    found = allma(app_env, "search", "--json", "xenon bulb watts")
    sources = json.loads(found.stdout)
    assert {"path", "page", "score", "snippet"} <= set(sources[0])
    assert sources[0]["page"] == PDF_ANSWER_PAGE


def test_chats_show_json_gives_an_answers_sources_as_ask_gave_them(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.markdown))
    asked = json.loads(allma(app_env, "ask", "--json", "When is the chain oiled?").stdout)

    shown = allma(app_env, "chats", "show", "--json", str(asked["conversation_id"]))

    stored = json.loads(shown.stdout)["messages"][-1]["sources"]
    assert stored == asked["sources"]
    assert stored[0]["heading_path"] == ["Bicycle care", "Chain"]
    assert stored[0]["char_end"] > stored[0]["char_start"]


def test_docs_and_chats_list_what_was_stored(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.folder))
    documents = json.loads(allma(app_env, "docs", "--json").stdout)
    by_name = {Path(d["path"]).name: d for d in documents}
    assert by_name["bicycle.md"]["status"] == "ready"
    assert by_name["bicycle.md"]["chunks"] >= 1
    assert by_name["broken.pdf"]["status"] == "failed"

    allma(app_env, "ask", PDF_QUESTION)
    listing = allma(app_env, "chats")
    assert listing.returncode == 0
    assert "xenon" in listing.stdout.lower()


def test_docs_remove_takes_a_document_out(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.markdown))
    removed = allma(app_env, "docs", "remove", str(sample_library.markdown))
    assert removed.returncode == 0, removed.stderr
    assert json.loads(allma(app_env, "docs", "--json").stdout) == []


def test_unreachable_ollama_gives_a_clear_message_and_no_traceback(
    app_env: dict[str, str], sample_library: SampleLibrary, ollama_server: OllamaTestServer
) -> None:
    ollama_server.stop()
    result = allma(app_env, "ingest", str(sample_library.text))
    assert result.returncode == 1
    assert "not reachable" in result.stderr
    assert "ollama serve" in result.stderr
    assert "Traceback" not in result.stderr

    health = allma(app_env, "health", "--json")
    assert health.returncode == 1
    assert json.loads(health.stdout)["ollama"]["reachable"] is False


def test_missing_model_suggests_allma_pull(
    app_env: dict[str, str], ollama_server: OllamaTestServer
) -> None:
    result = allma({**app_env, "OLLAMA_MODEL": "qwen3:0.6b"}, "ask", "--no-docs", "hello")
    assert result.returncode == 1
    assert "allma pull qwen3:0.6b" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_value_names_the_variable(app_env: dict[str, str]) -> None:
    result = allma({**app_env, "API_PORT": "lots"}, "health")
    assert result.returncode == 1
    assert "API_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_models_and_health_report_the_server(app_env: dict[str, str]) -> None:
    listed = allma(app_env, "models")
    assert "deepseek-r1:latest" in listed.stdout
    health = allma(app_env, "health", "--json")
    assert health.returncode == 0, health.stdout
    assert json.loads(health.stdout)["ollama"]["version"]


def test_ingesting_a_path_that_does_not_exist_fails_and_names_it(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    missing = tmp_path / "no-such-folder"

    result = allma(app_env, "ingest", str(missing))

    assert result.returncode != 0
    assert "no-such-folder" in result.stderr and "does not exist" in result.stderr


def test_hidden_files_and_folders_are_skipped_with_the_reason(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "notes"
    (folder / ".git").mkdir(parents=True)
    (folder / ".git" / "notes.md").write_text("# Not a document\n", encoding="utf-8")
    (folder / ".draft.md").write_text("# A hidden draft\n", encoding="utf-8")
    (folder / "garden.md").write_text("# Garden\n\nThe heron nests by the pond.\n", "utf-8")

    result = allma(app_env, "ingest", "--json", str(folder))

    assert result.returncode == 0, result.stderr
    reasons = {Path(r["path"]).name: (r["status"], r["reason"]) for r in json.loads(result.stdout)}
    assert reasons[".draft.md"] == ("skipped", "hidden file")
    assert reasons[".git"] == ("skipped", "hidden folder")
    assert reasons["garden.md"][0] == "indexed"
    assert "notes.md" not in reasons  # inside the hidden folder: never looked at


def test_every_listing_command_takes_json(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.markdown))
    allma(app_env, "ask", PDF_QUESTION)
    listings = (["docs"], ["docs", "list"], ["chats"], ["chats", "list"], ["collections"])
    for command in (*listings, ["watch", "list"]):
        listed = allma(app_env, *command, "--json")
        assert listed.returncode == 0, (command, listed.stderr)
        assert isinstance(json.loads(listed.stdout), list), command
    models = json.loads(allma(app_env, "models", "--json").stdout)
    kinds = {m["name"]: m["capabilities"] for m in models}
    assert "embedding" in kinds["nomic-embed-text:latest"]
    assert "completion" in kinds["llama3.2:latest"]


def test_restore_takes_the_path_that_was_given_to_backup(
    app_env: dict[str, str], sample_library: SampleLibrary, tmp_path: Path
) -> None:
    allma(app_env, "ingest", str(sample_library.markdown))
    backed_up = allma(app_env, "backup", str(tmp_path / "notes"))
    assert backed_up.returncode == 0, backed_up.stderr
    assert (tmp_path / "notes.allma-backup.zip").exists()

    restored = allma(app_env, "restore", "--yes", str(tmp_path / "notes"))

    assert restored.returncode == 0, restored.stderr
    assert len(json.loads(allma(app_env, "docs", "--json").stdout)) == 1


async def test_restore_refuses_while_the_app_has_the_library_open(
    app_env: dict[str, str], orchestrator: Orchestrator, tmp_path: Path
) -> None:
    orchestrator.create_conversation(earlier=[("user", "Still here after the refusal")])
    archive = (await orchestrator.back_up(tmp_path / "backups")).path

    refused = allma(app_env, "restore", "--yes", str(archive))

    assert refused.returncode == 1
    assert "Cannot restore a backup while Allma has the library" in refused.stderr
    assert "Close it first" in refused.stderr
    assert not list(tmp_path.glob("data.before-restore-*"))
    assert [c.title for c in orchestrator.list_conversations()] == ["Still here after the refusal"]


def test_ask_whole_document_reads_the_pages_and_cites_one(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.pdf))
    asked = allma(app_env, "ask", "--json", "--whole-document", PDF_QUESTION)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["context"] == "whole documents"
    assert answer["whole_documents"] == ["Lighthouse Manual"]
    assert PDF_ANSWER in answer["answer"]
    assert [source["page"] for source in answer["sources"]] == [PDF_ANSWER_PAGE]
    plain = allma(app_env, "ask", "--whole-document", PDF_QUESTION)
    assert "Reading whole: Lighthouse Manual" in plain.stderr
    assert f"lighthouse-manual.pdf, page {PDF_ANSWER_PAGE}" in plain.stdout

    # Shown again from the library: the line under the answer, and the JSON's fields.
    conversation = str(answer["conversation_id"])
    shown = json.loads(allma(app_env, "chats", "show", "--json", conversation).stdout)
    stored = shown["messages"][-1]
    assert (stored["context"], stored["whole_documents"]) == (
        "whole documents",
        ["Lighthouse Manual"],
    )
    assert shown["messages"][0]["whole_documents"] == []  # the question
    text = allma(app_env, "chats", "show", conversation).stdout
    assert "Read whole, page by page: Lighthouse Manual" in text
    exported = allma(app_env, "chats", "export", conversation)
    assert "*Read whole, page by page: Lighthouse Manual*" in exported.stdout, exported.stderr


def test_ask_for_a_summary_of_documents_too_long_summarises_them_in_parts(
    app_env: dict[str, str], tmp_path: Path
) -> None:
    allma(app_env, "ingest", str(long_pdf(tmp_path)))
    asked = allma(app_env, "ask", "--json", "--whole-document", "Summarise the harbour notes")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["context"] == "summarised in parts"
    assert answer["summary_parts"] >= 3 and answer["whole_documents"] == ["Harbour"]
    assert answer["sources"] and all(s["path"].endswith("harbour.pdf") for s in answer["sources"])
    conversation = str(answer["conversation_id"])
    shown = json.loads(allma(app_env, "chats", "show", "--json", conversation).stdout)
    assert shown["messages"][-1]["summary_parts"] == answer["summary_parts"]
    text = allma(app_env, "chats", "show", conversation).stdout
    assert f"Summarised in {answer['summary_parts']} parts, page by page: Harbour" in text


def test_ask_passages_gives_the_best_passages(
    app_env: dict[str, str], sample_library: SampleLibrary
) -> None:
    allma(app_env, "ingest", str(sample_library.pdf))
    answer = json.loads(allma(app_env, "ask", "--json", "--passages", PDF_QUESTION).stdout)
    assert (answer["context"], answer["whole_documents"]) == ("passages", [])
    shown = allma(app_env, "chats", "show", "--json", str(answer["conversation_id"])).stdout
    assert json.loads(shown)["messages"][-1]["whole_documents"] == []
    text = allma(app_env, "chats", "show", str(answer["conversation_id"])).stdout
    assert "Read whole" not in text
    both = allma(app_env, "ask", "--passages", "--whole-document", PDF_QUESTION)
    assert both.returncode == 2
    assert "Choose one of --whole-document and --passages" in both.stderr
