"""Settings: picking the model servers, and the MCP configuration to paste into other apps;
the first-run panel when the model server is not Ollama."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.first_run_panel import FirstRunPanel
from allma_desktop.gui.widgets.settings.page import SettingsPage
from allma_desktop.mcp_config import HOSTS
from allma_desktop.orchestrator import HealthReport
from allma_desktop.services.model_server.choice import create_llm_service
from tests.gui.conftest import run_async
from tests.support.openai_server import OpenAITestServer

TIMEOUT_MS = 20_000


@pytest.fixture
def page(qtbot: QtBot, host: OrchestratorHost) -> Iterator[SettingsPage]:
    page = SettingsPage(SettingsController(host))
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    yield page


def test_the_server_address_shows_only_for_an_openai_compatible_server(page: SettingsPage) -> None:
    chat = page.model_servers.chat
    assert not chat.url_edit.isVisible()

    chat.provider_box.setCurrentIndex(chat.provider_box.findData("openai-compatible"))

    assert chat.url_edit.isVisible() and chat.key_edit.isVisible()
    assert not page.model_servers.embeddings.url_edit.isVisible()


def test_chat_from_an_openai_server_is_saved_and_the_engine_uses_it(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    chat = page.model_servers.chat
    with OpenAITestServer(api_key="sk-test") as server:
        chat.provider_box.setCurrentIndex(chat.provider_box.findData("openai-compatible"))
        chat.url_edit.setText(server.url)
        chat.key_edit.setText("sk-test")
        page.models.chat_model_box.setCurrentText("qwen2.5-7b-instruct")
        with qtbot.waitSignal(host.events.engine_ready, timeout=TIMEOUT_MS):
            page.save_button.click()

        saved = AppConfig.from_env()
        assert (saved.llm_provider, saved.llm_base_url, saved.llm_api_key) == (
            "openai-compatible",
            server.url,
            "sk-test",
        )
        assert saved.embedding_provider == "ollama"
        assert host.orchestrator is not None
        health = run_async(qtbot, host.orchestrator.health())
        assert health.ollama.ok, health.ollama.error
        assert health.ollama.server == "Model server"


def test_an_openai_server_without_an_address_is_refused_with_what_it_needs(
    page: SettingsPage,
) -> None:
    chat = page.model_servers.chat
    chat.provider_box.setCurrentIndex(chat.provider_box.findData("openai-compatible"))

    page.save_button.click()

    assert page.status_label.text().startswith("Chat server address: '' is not valid")
    assert "/v1" in page.status_label.text()
    assert AppConfig.from_env().llm_provider == "ollama"


def test_each_app_gets_its_own_mcp_configuration_and_copy_puts_it_on_the_clipboard(
    page: SettingsPage,
) -> None:
    card = page.mcp
    seen = {}
    for index, host in enumerate(HOSTS):
        card.host_box.setCurrentIndex(index)
        card.copy_button.click()
        pasted = json.loads(QApplication.clipboard().text())
        server = pasted[host.servers_key]["allma"]
        assert server["args"][-1] == "mcp"
        assert card.copy_button.text() == "Copied"
        assert host.name in card.where_label.text()
        seen[host.name] = server
    assert seen["VS Code"]["type"] == "stdio"
    assert "type" not in seen["Claude Desktop"]


@pytest.mark.usefixtures("qasync_loop")
def test_the_first_run_panel_points_at_the_model_server_not_at_installing_ollama(
    qtbot: QtBot, tmp_path: Path
) -> None:
    with OpenAITestServer() as server:
        address = server.url  # refuses connections once stopped
    config = AppConfig(
        data_dir=tmp_path / "data", llm_provider="openai-compatible", llm_base_url=address
    )
    service = create_llm_service(config)
    try:
        health = run_async(
            qtbot, service.health(config.ollama_model, config.ollama_embedding_model)
        )
    finally:
        run_async(qtbot, service.close())
    panel = FirstRunPanel()
    qtbot.addWidget(panel)
    panel.show()

    panel.show_report(HealthReport(health, str(tmp_path), True, None, 0, 0, 1))

    assert panel.problem == "ollama_unreachable"
    assert not panel.get_ollama.isVisible() and not panel.install_steps.isVisible()
    assert "LLM_BASE_URL" in panel.explanation.text()
    assert panel.settings_button.isVisible()
