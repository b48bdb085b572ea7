"""The Settings page over the real engine: save and reload, restart, test connection, pull."""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from allma_desktop.config import AppConfig, settings_path
from allma_desktop.gui.controllers.api_controller import ApiController
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from allma_desktop.gui.theme import apply_theme
from allma_desktop.gui.widgets.settings.page import SettingsPage
from tests.gui.conftest import ingest, run_async
from tests.support.ollama_server import OllamaTestServer
from tests.support.sample_docs import write_text

TIMEOUT_MS = 20_000


@pytest.fixture
def page(qtbot: QtBot, host: OrchestratorHost) -> Iterator[SettingsPage]:
    page = SettingsPage(SettingsController(host))
    qtbot.addWidget(page)
    page.resize(900, 700)
    page.show()
    yield page


def test_saved_settings_are_read_back_by_a_new_engine(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    page.answers.temperature_spin.setValue(0.7)
    page.search.top_k_spin.setValue(8)
    page.answers.system_prompt_edit.setPlainText("Answer like a ship's captain.")
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    reloaded = AppConfig.from_env()
    assert (reloaded.temperature, reloaded.top_k) == (0.7, 8)
    again = OrchestratorHost(reloaded)
    fresh = SettingsPage(SettingsController(again))
    qtbot.addWidget(fresh)
    assert fresh.answers.temperature_spin.value() == 0.7
    assert fresh.search.top_k_spin.value() == 8
    assert fresh.answers.system_prompt_edit.toPlainText() == "Answer like a ship's captain."


def test_saving_writes_only_what_the_user_changed_never_the_environment(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With OLLAMA_HOST set, saving a temperature must not store that host for good."""
    monkeypatch.setenv("OLLAMA_HOST", host.config.ollama_host)
    settings_path().parent.mkdir(parents=True, exist_ok=True)
    settings_path().write_text(json.dumps({"top_k": 7}), encoding="utf-8")
    page.load(host.config)  # the form shows the effective settings, host included
    page.answers.temperature_spin.setValue(0.9)
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    stored = json.loads(settings_path().read_text(encoding="utf-8"))
    assert stored == {"top_k": 7, "temperature": 0.9}
    monkeypatch.delenv("OLLAMA_HOST")
    assert AppConfig.from_env().ollama_host == AppConfig().ollama_host


def test_per_answer_settings_apply_without_restarting_the_engine(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    before = host.orchestrator
    page.answers.temperature_spin.setValue(1.1)
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert host.orchestrator is before
    assert before is not None and before.config.temperature == 1.1


def test_answer_only_from_my_documents_is_saved_and_applies_at_once(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    before = host.orchestrator
    page.answers.documents_only_check.setChecked(True)
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert host.orchestrator is before
    assert before is not None and before.config.documents_only is True
    assert AppConfig.from_env().documents_only is True


def test_related_words_is_saved_and_the_next_search_uses_it_without_a_restart(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    before = host.orchestrator
    assert not page.search.related_check.isChecked()  # off by default
    page.search.related_check.setChecked(True)
    with qtbot.waitSignal(host.events.settings_changed, timeout=TIMEOUT_MS):
        page.save_button.click()

    assert host.orchestrator is before
    assert before is not None and before.config.related_words is True
    assert json.loads(settings_path().read_text(encoding="utf-8")) == {"related_words": True}
    fresh = SettingsPage(SettingsController(OrchestratorHost(AppConfig.from_env())))
    qtbot.addWidget(fresh)
    assert fresh.search.related_check.isChecked()


def test_a_new_ollama_address_restarts_the_engine_on_it(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost
) -> None:
    with OllamaTestServer() as other:
        page.ollama.host_edit.setText(other.url)
        with qtbot.waitSignal(host.events.engine_ready, timeout=TIMEOUT_MS):
            page.save_button.click()

        assert host.orchestrator is not None
        assert host.orchestrator.config.ollama_host == other.url
        assert run_async(qtbot, host.orchestrator.health()).ollama.reachable


def test_an_invalid_value_is_shown_under_its_field_and_nothing_is_saved(
    page: SettingsPage,
) -> None:
    page.search.chunk_size_spin.setValue(1000)
    page.search.chunk_overlap_spin.setValue(900)

    page.save_button.click()

    error = page.errors["chunk_overlap"]
    assert error.isVisibleTo(page)
    assert "Passage overlap" in error.text()
    assert "half of chunk_size" in error.text()
    assert not settings_path().exists()


def test_an_unreadable_context_length_names_the_field_and_what_it_accepts(
    page: SettingsPage,
) -> None:
    page.answers.context_edit.setText("lots")

    page.save_button.click()

    assert page.errors["context_length"].isVisibleTo(page)
    assert "Context length" in page.errors["context_length"].text()
    assert "whole number" in page.errors["context_length"].text()


def test_test_connection_reports_success_with_the_models(
    qtbot: QtBot, page: SettingsPage, ollama_server: OllamaTestServer
) -> None:
    page.ollama.host_edit.setText(ollama_server.url)
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.ollama.test_button.click()

    assert page.ollama.connection_label.text().startswith("✓ Connected")
    assert page.models.chat_model_box.findText("llama3.2:latest") >= 0


def test_editing_the_address_clears_the_old_connection_result(
    qtbot: QtBot, page: SettingsPage, ollama_server: OllamaTestServer
) -> None:
    page.ollama.host_edit.setText(ollama_server.url)
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.ollama.test_button.click()
    assert page.ollama.connection_label.isVisibleTo(page)

    qtbot.keyClicks(page.ollama.host_edit, "0")

    assert not page.ollama.connection_label.isVisibleTo(page)


def test_test_connection_reports_an_unreachable_address(qtbot: QtBot, page: SettingsPage) -> None:
    page.ollama.host_edit.setText("http://127.0.0.1:9")
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.ollama.test_button.click()

    assert page.ollama.connection_label.text().startswith("✕")
    assert "not reachable" in page.ollama.connection_label.text()
    assert page.ollama.test_button.isEnabled()


def test_pulling_a_model_shows_progress_then_offers_it(qtbot: QtBot, page: SettingsPage) -> None:
    fractions: list[float] = []
    page.controller.pull_progress.connect(lambda _n, _s, f: fractions.append(f))
    page.models.pull_edit.setText("qwen3:0.6b")
    with qtbot.waitSignal(page.controller.pull_finished, timeout=TIMEOUT_MS):
        page.models.pull_button.click()

    assert any(0 < f < 1 for f in fractions)
    assert "ready to use" in page.models.pull_status.text()
    picker = page.models.chat_model_box
    qtbot.waitUntil(lambda: picker.findText("qwen3:0.6b") >= 0, timeout=TIMEOUT_MS)


def test_the_connection_result_counts_a_model_downloaded_after_the_test(
    qtbot: QtBot, page: SettingsPage
) -> None:
    label = page.ollama.connection_label
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.ollama.test_button.click()
    before = label.text()
    assert before.startswith("✓ Connected") and before.endswith(" models")
    count = int(before.split(" · ")[-1].split()[0])

    page.models.pull_edit.setText("qwen3:0.6b")
    with qtbot.waitSignal(page.controller.pull_finished, timeout=TIMEOUT_MS):
        page.models.pull_button.click()

    qtbot.waitUntil(lambda: label.text().endswith(f" · {count + 1} models"), timeout=TIMEOUT_MS)


def test_the_connection_result_is_tested_again_when_settings_is_opened_again(
    qtbot: QtBot, page: SettingsPage, ollama_server: OllamaTestServer
) -> None:
    label = page.ollama.connection_label
    with qtbot.waitSignal(page.controller.connection_tested, timeout=TIMEOUT_MS):
        page.ollama.test_button.click()
    assert label.text().startswith("✓ Connected")
    page.hide()
    ollama_server.stop()  # Ollama stops while Settings is closed

    page.show()

    qtbot.waitUntil(lambda: label.text().startswith("✕ "), timeout=TIMEOUT_MS)


def test_a_model_download_can_be_cancelled(
    qtbot: QtBot, page: SettingsPage, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.pull_step_delay = 0.3
    page.models.pull_edit.setText("qwen3:0.6b")
    with qtbot.waitSignal(page.controller.pull_progress, timeout=TIMEOUT_MS):
        page.models.pull_button.click()
    assert page.models.pull_cancel_button.isVisibleTo(page)

    with qtbot.waitSignal(page.controller.pull_cancelled, timeout=TIMEOUT_MS):
        page.models.pull_cancel_button.click()

    models = page.models
    assert models.pull_status.text() == "Download of qwen3:0.6b cancelled."
    assert models.pull_button.isEnabled() and not models.pull_cancel_button.isVisibleTo(page)


def test_choosing_another_embedding_model_says_the_library_will_be_re_embedded(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, tmp_path: Path
) -> None:
    ingest(qtbot, host, [write_text(tmp_path / "baking.txt")])
    with qtbot.waitSignal(page.controller.library_facts_changed, timeout=TIMEOUT_MS):
        host.events.documents_changed.emit()  # as the library says once a file is in

    page.models.embedding_model_box.setCurrentText("mxbai-embed-large:latest")

    assert page.models.reembed_label.isVisibleTo(page)
    assert "re-embeds your library" in page.models.reembed_label.text()


def test_a_library_in_german_is_advised_a_multilingual_embedding_model(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, tmp_path: Path
) -> None:
    german = tmp_path / "hausordnung.txt"
    german.write_text(
        "Die Hausordnung gilt für alle Mieter. Der Müll wird jeden Montag abgeholt, und die "
        "Ruhezeiten sind von zweiundzwanzig bis sechs Uhr einzuhalten.\n",
        encoding="utf-8",
    )
    ingest(qtbot, host, [german])
    host.events.documents_changed.emit()  # as the library says once a file is in

    page.models.embedding_model_box.setCurrentText("all-minilm:latest")
    qtbot.waitUntil(lambda: page.models.language_hint.isVisibleTo(page), timeout=TIMEOUT_MS)
    assert "documents in German" in page.models.language_hint.text()
    assert "bge-m3" in page.models.language_hint.text()

    with qtbot.waitSignal(page.controller.library_facts_changed, timeout=TIMEOUT_MS):
        page.models.embedding_model_box.setCurrentText("bge-m3:latest")
    assert not page.models.language_hint.isVisibleTo(page)


def test_an_english_library_gets_no_language_advice(
    qtbot: QtBot, page: SettingsPage, host: OrchestratorHost, tmp_path: Path
) -> None:
    ingest(qtbot, host, [write_text(tmp_path / "baking.txt")])
    host.events.documents_changed.emit()  # as the library says once a file is in
    with qtbot.waitSignal(page.controller.library_facts_changed, timeout=TIMEOUT_MS):
        page.models.embedding_model_box.setCurrentText("all-minilm:latest")
    assert not page.models.language_hint.isVisibleTo(page)


def test_saving_a_theme_restyles_the_app(qtbot: QtBot, page: SettingsPage) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    page.appearance.theme_box.setCurrentIndex(page.appearance.theme_box.findData("dark"))
    try:
        page.save_button.click()
        window = app.palette().color(QPalette.ColorRole.Window)
        assert window.lightness() < 128
        assert page.controller.theme == "dark"
    finally:
        apply_theme(app, "light")


def test_picking_a_theme_restyles_the_app_at_once_without_saving(
    qtbot: QtBot, page: SettingsPage
) -> None:
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    index = page.appearance.theme_box.findData("dark")
    page.appearance.theme_box.setCurrentIndex(index)
    try:
        page.appearance.theme_box.activated.emit(index)  # as a pick from the list does

        assert app.palette().color(QPalette.ColorRole.Window).lightness() < 128
        assert page.controller.theme == "dark"
    finally:
        apply_theme(app, "light")
        page.controller.use_theme("light")


# --- local API and OCR -----------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def api_page(qtbot: QtBot, host: OrchestratorHost) -> Iterator[SettingsPage]:
    """Settings with the local API, on a free loopback port; the API is stopped afterwards."""
    host.config = dataclasses.replace(host.config, api_host="127.0.0.1", api_port=_free_port())
    api = ApiController(host)
    page = SettingsPage(SettingsController(host), api=api)
    qtbot.addWidget(page)
    page.show()
    yield page
    run_async(qtbot, api.shutdown())


def _turn_api(qtbot: QtBot, page: SettingsPage, on: bool) -> None:
    assert page.api is not None
    with qtbot.waitSignal(page.api.state_changed, timeout=TIMEOUT_MS):
        page.local_api.api_switch.setChecked(on)


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_turning_the_api_on_serves_health_on_loopback(qtbot: QtBot, api_page: SettingsPage) -> None:
    _turn_api(qtbot, api_page, True)

    assert api_page.api is not None and api_page.api.url is not None
    url = api_page.api.url

    async def get_health() -> int:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{url}/health")).status_code

    assert run_async(qtbot, get_health()) == 200
    assert api_page.local_api.api_state_label.text() == f"Running at {url}"


def test_turning_the_api_off_frees_its_port(
    qtbot: QtBot, api_page: SettingsPage, host: OrchestratorHost
) -> None:
    _turn_api(qtbot, api_page, True)
    assert not _port_is_free(host.config.api_port)

    _turn_api(qtbot, api_page, False)

    assert api_page.api is not None and not api_page.api.running
    assert _port_is_free(host.config.api_port)
    assert api_page.local_api.api_state_label.text() == "Off"


def test_the_api_switch_is_remembered_and_restarts_the_api_next_launch(
    qtbot: QtBot, api_page: SettingsPage, host: OrchestratorHost
) -> None:
    _turn_api(qtbot, api_page, True)
    _turn_api(qtbot, api_page, False)
    api_page.controller.remember_api_enabled(True)  # as if the app quit with the API on

    api = ApiController(host)
    with qtbot.waitSignal(api.state_changed, timeout=TIMEOUT_MS) as started:
        again = SettingsPage(SettingsController(host), api=api)
    qtbot.addWidget(again)
    try:
        assert started.args is not None and started.args[0] is True
        assert again.local_api.api_switch.isChecked()
    finally:
        run_async(qtbot, api.shutdown())


def test_the_token_shown_is_the_one_clients_must_send(api_page: SettingsPage) -> None:
    assert api_page.api is not None
    assert api_page.local_api.api_token_edit.isReadOnly()
    assert api_page.local_api.api_token_edit.text() == api_page.api.token()


def test_the_token_is_masked_until_reveal_is_pressed(api_page: SettingsPage) -> None:
    edit = api_page.local_api.api_token_edit
    assert edit.echoMode() == QLineEdit.EchoMode.Password
    assert edit.displayText() != edit.text()

    api_page.local_api.api_reveal_button.click()
    assert edit.displayText() == edit.text()
    api_page.local_api.api_reveal_button.click()
    assert edit.echoMode() == QLineEdit.EchoMode.Password


def test_copy_puts_the_token_on_the_clipboard(api_page: SettingsPage) -> None:
    api_page.local_api.api_copy_button.click()

    assert QApplication.clipboard().text() == api_page.local_api.api_token_edit.text()


def test_a_non_loopback_api_host_shows_the_exposure_warning(
    qtbot: QtBot, host: OrchestratorHost
) -> None:
    host.config = dataclasses.replace(host.config, api_host="0.0.0.0")
    page = SettingsPage(SettingsController(host), api=ApiController(host))
    qtbot.addWidget(page)

    assert page.local_api.api_warning_label.isVisibleTo(page)
    assert "other machines on the network" in page.local_api.api_warning_label.text()


def test_the_about_card_states_the_license_of_the_source_and_of_the_packaged_app(
    page: SettingsPage,
) -> None:
    text = page.about.license_label.text()

    assert "MIT License" in text
    assert "PyMuPDF" in text and "AGPL-3.0" in text
