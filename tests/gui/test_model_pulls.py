"""One model-pull pipeline for the window: the Health banner and Settings share downloads."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from allma_desktop.gui.controllers.health_controller import HealthController
from allma_desktop.gui.controllers.settings_controller import SettingsController
from allma_desktop.gui.orchestrator_host import OrchestratorHost
from tests.support.ollama_server import OllamaTestServer

TIMEOUT_MS = 20_000
MODEL = "qwen3:0.6b"


def test_a_second_request_for_the_same_model_joins_the_download_under_way(
    qtbot: QtBot, host: OrchestratorHost, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.pull_step_delay = 0.1
    health = HealthController(host)
    settings = SettingsController(host)
    finished_in_health: list[str] = []
    health.pull_finished.connect(finished_in_health.append)
    progress_in_settings: list[float] = []
    settings.pull_progress.connect(lambda _m, _s, fraction: progress_in_settings.append(fraction))

    with qtbot.waitSignal(host.pulls.progress, timeout=TIMEOUT_MS):
        health.pull(MODEL)  # the first-run banner's button
    with qtbot.waitSignal(settings.pull_finished, timeout=TIMEOUT_MS):
        settings.pull(MODEL)  # the same model from the Settings page, while it downloads
        health.pull(MODEL)  # and a second click on the banner

    assert len(ollama_server.requests_to("/api/pull")) == 1
    assert host.pulls.started_count == 1
    assert finished_in_health == [MODEL]
    assert progress_in_settings, "the joined request sees the download's progress"
    assert host.pulls.pulling == set()


def test_cancelling_in_settings_stops_the_download_the_banner_started(
    qtbot: QtBot, host: OrchestratorHost, ollama_server: OllamaTestServer
) -> None:
    ollama_server.faults.pull_step_delay = 0.3
    health = HealthController(host)
    settings = SettingsController(host)
    finished: list[str] = []
    health.pull_finished.connect(finished.append)
    with qtbot.waitSignal(settings.pull_progress, timeout=TIMEOUT_MS):
        health.pull(MODEL)

    with qtbot.waitSignal(settings.pull_cancelled, timeout=TIMEOUT_MS):
        settings.cancel_pull(MODEL)

    assert health.pulling == set() and finished == []


def test_a_model_downloaded_after_a_finished_one_is_pulled_again(
    qtbot: QtBot, host: OrchestratorHost, ollama_server: OllamaTestServer
) -> None:
    settings = SettingsController(host)
    for _ in range(2):
        with qtbot.waitSignal(settings.pull_finished, timeout=TIMEOUT_MS):
            settings.pull(MODEL)

    assert len(ollama_server.requests_to("/api/pull")) == 2
