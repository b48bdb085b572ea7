"""Settings: picking the model servers, and the MCP configuration to paste into other apps;
the first-run panel when the model server is not Ollama."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget
from pytestqt.exceptions import TimeoutError as WaitTimeout
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.widgets.first_run_panel import FirstRunPanel
from allma_desktop.gui.widgets.settings.page import CARD_WIDTH, SettingsPage
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


def _spilling(page: SettingsPage) -> list[str]:
    """Every field drawn outside its card, or over the next field of its form."""
    found = []
    for card in page.cards:
        box = card.rect()
        for child in card.findChildren(QWidget):
            if child.isVisibleTo(card) and child.parentWidget() is not None:
                rect = QRect(child.mapTo(card, QPoint(0, 0)), child.size())
                if not box.contains(rect):
                    name = f"{type(card).__name__}: {type(child).__name__}"
                    found.append(f"{name} {rect} outside {box}")
    mcp = page.mcp
    edit_bottom = mcp.config_edit.mapTo(mcp, QPoint(0, mcp.config_edit.height())).y()
    hint_top = mcp.where_label.mapTo(mcp, QPoint(0, 0)).y()
    if hint_top < edit_bottom:
        found.append(f"McpCard: the hint starts at {hint_top}, over the box ending {edit_bottom}")
    return found


def _laid_out(page: SettingsPage) -> bool:
    """The page is as its layouts ask, none of them waiting to be applied (an invalidated
    layout's geometry is empty until it is): the column as tall as its cards need at its
    width, every card as tall as its fields need at the card's width."""
    body = page.findChild(QScrollArea, "settingsScroll").widget()
    widgets = (body, *page.cards)
    return (
        all(w.layout().geometry() == w.contentsRect() for w in widgets)
        and body.height() == body.heightForWidth(body.width())
        and all(
            card.width() == CARD_WIDTH
            and (
                not card.hasHeightForWidth()
                or card.height() == card.layout().totalHeightForWidth(card.width())
            )
            for card in page.cards
        )
        and page.mcp.config_edit.height() == page.mcp.config_edit.minimumHeight()
    )


@pytest.mark.parametrize("host_index", range(len(HOSTS)))
def test_no_card_is_squeezed_under_its_fields_on_a_page_wider_than_its_cards(
    qtbot: QtBot, page: SettingsPage, host_index: int
) -> None:
    """Qt sizes the page's column by each card's text wrapped at the column's width, wider
    than the 760 px a card keeps: the column came out short, and the MCP card (the one with
    room between its least and its wished height) took the cut, its hint drawn over the
    configuration box (seen under xcb in a 1240 px window)."""
    page.resize(1200, 700)  # the page's column is 1,100 px or so, the cards 760
    page.mcp.host_box.setCurrentIndex(host_index)
    with contextlib.suppress(WaitTimeout):  # a card that never gets its height: named below
        qtbot.waitUntil(lambda: _laid_out(page), timeout=TIMEOUT_MS)
    assert _spilling(page) == []
    assert _laid_out(page)
