"""The Settings page over the real engine: save and reload, restart, test connection, pull."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig, settings_path
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.engine import Engine
from allma_desktop.gui.theme import apply_theme
from allma_desktop.gui.widgets.settings_page import SettingsPage
from tests.gui.conftest import ingest, run_async
from tests.ollama_server import OllamaTestServer
from tests.sample_docs import write_text

TIMEOUT_MS = 20_000


@pytest.fixture
def page(qtbot: QtBot, engine: Engine) -> Iterator[SettingsPage]:
    page = SettingsPage(SettingsController(engine))
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    yield page


def test_saved_settings_are_read_back_by_a_new_engine(
    qtbot: QtBot, page: SettingsPage, engine: Engine
) -> None:
    page.temperature_spin.setValue(0.7)
    page.top_k_spin.setValue(8)
    page.system_prompt_edit.setPlainText("Answer like a ship's captain.")
    with qtbot.waitSignal(engine.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    reloaded = AppConfig.from_env()
    assert (reloaded.temperature, reloaded.top_k) == (0.7, 8)
    again = Engine(reloaded)
    fresh = SettingsPage(SettingsController(again))
    qtbot.addWidget(fresh)
    assert fresh.temperature_spin.value() == 0.7
    assert fresh.top_k_spin.value() == 8
    assert fresh.system_prompt_edit.toPlainText() == "Answer like a ship's captain."


def test_per_answer_settings_apply_without_restarting_the_engine(
    qtbot: QtBot, page: SettingsPage, engine: Engine
) -> None:
    before = engine.orchestrator
    page.temperature_spin.setValue(1.1)
    with qtbot.waitSignal(engine.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert engine.orchestrator is before
    assert before is not None and before.config.temperature == 1.1


def test_a_new_ollama_address_restarts_the_engine_on_it(
    qtbot: QtBot, page: SettingsPage, engine: Engine
) -> None:
    with OllamaTestServer() as other:
        page.host_edit.setText(other.url)
        with qtbot.waitSignal(engine.events.engine_ready, timeout=TIMEOUT_MS):
            page.save_button.click()

        assert engine.orchestrator is not None
        assert engine.orchestrator.config.ollama_host == other.url
        assert run_async(qtbot, engine.orchestrator.health()).ollama.reachable


def test_an_invalid_value_is_shown_under_its_field_and_nothing_is_saved(
    page: SettingsPage,
) -> None:
    page.chunk_size_spin.setValue(1000)
    page.chunk_overlap_spin.setValue(900)

    page.save_button.click()

    error = page.errors["chunk_overlap"]
    assert error.isVisibleTo(page)
    assert "Passage overlap" in error.text()
    assert "half of chunk_size" in error.text()
    assert not settings_path().exists()


def test_an_unreadable_context_length_names_the_field_and_what_it_accepts(
    page: SettingsPage,
) -> None:
    page.context_edit.setText("lots")

    page.save_button.click()

    assert page.errors["context_length"].isVisibleTo(page)
    assert "Context length" in page.errors["context_length"].text()
    assert "whole number" in page.errors["context_length"].text()


def test_test_connection_reports_success_with_the_models(
    qtbot: QtBot, page: SettingsPage, ollama_server: OllamaTestServer
) -> None:
    page.host_edit.setText(ollama_server.url)
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.test_button.click()

    assert page.connection_label.text().startswith("✓ Connected")
    assert page.chat_model_box.findText("llama3.2:latest") >= 0


def test_test_connection_reports_an_unreachable_address(qtbot: QtBot, page: SettingsPage) -> None:
    page.host_edit.setText("http://127.0.0.1:9")
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.test_button.click()

    assert page.connection_label.text().startswith("✕")
    assert "not reachable" in page.connection_label.text()
    assert page.test_button.isEnabled()


def test_pulling_a_model_shows_progress_then_offers_it(qtbot: QtBot, page: SettingsPage) -> None:
    fractions: list[float] = []
    page.controller.pull_progress.connect(lambda _n, _s, f: fractions.append(f))
    page.pull_edit.setText("qwen3:0.6b")
    with qtbot.waitSignal(page.controller.pull_finished, timeout=TIMEOUT_MS):
        page.pull_button.click()

    assert any(0 < f < 1 for f in fractions)
    assert "ready to use" in page.pull_status.text()
    qtbot.waitUntil(lambda: page.chat_model_box.findText("qwen3:0.6b") >= 0, timeout=TIMEOUT_MS)


def test_choosing_another_embedding_model_says_the_library_will_be_re_embedded(
    qtbot: QtBot, page: SettingsPage, engine: Engine, tmp_path: Path
) -> None:
    ingest(qtbot, engine, [write_text(tmp_path / "baking.txt")])

    page.embedding_model_box.setCurrentText("mxbai-embed-large:latest")

    assert page.reembed_label.isVisibleTo(page)
    assert "re-embeds your library" in page.reembed_label.text()


def test_saving_a_theme_restyles_the_app(qtbot: QtBot, page: SettingsPage) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    page.theme_box.setCurrentIndex(page.theme_box.findData("dark"))
    try:
        page.save_button.click()
        window = app.palette().color(QPalette.ColorRole.Window)
        assert window.lightness() < 128
        assert page.controller.theme == "dark"
    finally:
        apply_theme(app, "light")
