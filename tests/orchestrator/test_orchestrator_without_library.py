"""What the orchestrator module answers before a library is open: a model server being
tried in Settings, a model choice checked before it is saved, the OCR languages."""

from __future__ import annotations

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.errors import WrongModelKind
from allma_desktop.orchestrator import check_models, ocr_languages, probe_model_server


async def test_a_model_server_being_tried_reports_its_models(config: AppConfig) -> None:
    health = await probe_model_server(config, timeout=5.0)

    assert health.reachable
    assert "nomic-embed-text:latest" in health.embedding_models
    assert "deepseek-r1:latest" in health.chat_models


async def test_a_server_that_does_not_answer_is_reported_not_raised(config: AppConfig) -> None:
    health = await probe_model_server(
        config.with_changes(ollama_host="http://127.0.0.1:9"), timeout=2.0
    )

    assert not health.reachable
    assert health.error is not None


async def test_an_embedding_model_chosen_to_chat_is_refused(config: AppConfig) -> None:
    await check_models(config, chat_model="deepseek-r1:latest", timeout=5.0)  # can chat
    with pytest.raises(WrongModelKind):
        await check_models(config, chat_model="nomic-embed-text:latest", timeout=5.0)


def test_ocr_reads_english_with_the_data_that_ships_with_the_app() -> None:
    assert "eng" in [language.code for language in ocr_languages()]
