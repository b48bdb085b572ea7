"""Model pickers offer what Ollama says each model can do; a choice is tried before it is saved."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from PySide6.QtWidgets import QComboBox
from pytestqt.qtbot import QtBot

from allma_desktop.config import settings_path
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.main_window import MainWindow
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.settings.page import SettingsPage
from tests.support.ollama_server import ALL_MINILM, DEFAULT_MODELS, OllamaTestServer

TIMEOUT_MS = 20_000


@pytest.fixture
def ollama_server() -> Iterator[OllamaTestServer]:
    """The default models plus all-minilm, an embedding model without "embed" in its name."""
    with OllamaTestServer([*DEFAULT_MODELS, ALL_MINILM]) as server:
        yield server


@pytest.fixture
def page(qtbot: QtBot, host: OrchestratorHost) -> Iterator[SettingsPage]:
    controller = SettingsController(host)
    page = SettingsPage(controller)
    qtbot.addWidget(page)
    page.show()
    with qtbot.waitSignal(controller.models_loaded, timeout=TIMEOUT_MS):
        controller.refresh_models()
    yield page


def items(box: QComboBox) -> set[str]:
    return {box.itemText(i) for i in range(box.count())}


def test_settings_offers_chat_models_to_chat_with_and_embedding_models_to_embed_with(
    page: SettingsPage,
) -> None:
    assert items(page.models.chat_model_box) == {
        "deepseek-r1:latest",
        "legacy-r1:latest",
        "llama3.2:latest",
    }
    assert items(page.models.embedding_model_box) == {
        "nomic-embed-text:latest",
        "all-minilm:latest",
    }


def test_the_chat_picker_leaves_out_embedding_models(qtbot: QtBot, window: MainWindow) -> None:
    box = window.chat_view.model_box
    qtbot.waitUntil(lambda: box.findText("llama3.2:latest") >= 0, timeout=TIMEOUT_MS)

    assert box.findText("all-minilm:latest") < 0
    assert box.findText("nomic-embed-text:latest") < 0


def test_a_chat_model_picked_as_the_embedding_model_is_refused_with_why(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    page.models.embedding_model_box.setCurrentText("llama3.2:latest")
    with qtbot.waitSignal(page.controller.model_rejected, timeout=TIMEOUT_MS):
        page.save_button.click()

    shown = page.errors["ollama_embedding_model"]
    assert shown.isVisibleTo(page)
    assert shown.text().startswith("llama3.2:latest cannot make embeddings: it is a chat model.")
    assert "Check the Ollama log" not in shown.text()
    assert host.config.ollama_embedding_model == "nomic-embed-text:latest"
    assert not settings_path().exists()
    assert page.save_button.isEnabled()


def test_an_embedding_model_picked_as_the_chat_model_is_refused_with_why(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    page.models.chat_model_box.setCurrentText("all-minilm:latest")
    with qtbot.waitSignal(page.controller.model_rejected, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert page.errors["ollama_model"].text() == (
        "all-minilm:latest cannot chat: it is an embedding model. "
        "Pick a chat model, such as llama3.2."
    )
    assert host.config.ollama_model == "deepseek-r1:latest"


def test_a_new_embedding_model_makes_one_real_embedding_before_it_is_saved(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, ollama_server: OllamaTestServer
) -> None:
    ollama_server.clear_requests()
    page.models.embedding_model_box.setCurrentText("all-minilm:latest")
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    tried = [r.body["model"] for r in ollama_server.requests_to("/api/embed")]
    assert tried[:1] == ["all-minilm:latest"]
    stored = json.loads(settings_path().read_text(encoding="utf-8"))
    assert stored == {"ollama_embedding_model": "all-minilm:latest"}


def test_a_model_that_is_not_installed_is_refused_with_how_to_get_it(
    qtbot: QtBot, page: SettingsPage
) -> None:
    page.models.embedding_model_box.setCurrentText("mxbai-embed-large:latest")
    with qtbot.waitSignal(page.controller.model_rejected, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert "allma pull mxbai-embed-large:latest" in page.errors["ollama_embedding_model"].text()
