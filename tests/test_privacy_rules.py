"""The remote-Ollama notice: shown for another machine, once per host, never for this one."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig
from allma_desktop.privacy import (
    acknowledge_remote_host,
    acknowledged_hosts_path,
    is_local_ollama_host,
    remote_host_notice,
)


def config_for(host: str) -> AppConfig:
    return AppConfig.from_mapping({"ollama_host": host, "data_dir": "/nonexistent"})


@pytest.mark.parametrize(
    "host",
    [
        "http://localhost:11434",
        "http://127.0.0.1:11434",
        "http://127.1.2.3:8080",
        "http://[::1]:11434",
        "http://0.0.0.0:11434",
        "localhost",
    ],
)
def test_this_machine_gets_no_notice(host: str, tmp_path: Path) -> None:
    assert remote_host_notice(config_for(host), config_dir=tmp_path) is None


@pytest.mark.parametrize(
    "host", ["http://192.168.1.20:11434", "https://ollama.example.com", "gpu-box", "[fd00::5]"]
)
def test_another_machine_is_not_local(host: str) -> None:
    assert not is_local_ollama_host(config_for(host).ollama_host)


def test_remote_host_notice_names_the_host_and_what_is_sent(tmp_path: Path) -> None:
    notice = remote_host_notice(config_for("http://gpu-box:11434"), config_dir=tmp_path)
    assert notice is not None
    assert "gpu-box" in notice
    assert "questions" in notice and "excerpts" in notice


def test_notice_is_not_repeated_once_acknowledged(tmp_path: Path) -> None:
    config = config_for("http://gpu-box:11434")
    acknowledge_remote_host(config, config_dir=tmp_path)
    assert remote_host_notice(config, config_dir=tmp_path) is None


def test_acknowledgement_covers_the_same_host_however_it_is_written(tmp_path: Path) -> None:
    acknowledge_remote_host(config_for("gpu-box"), config_dir=tmp_path)
    assert remote_host_notice(config_for("http://GPU-BOX:11434/"), config_dir=tmp_path) is None


def test_acknowledging_one_host_does_not_silence_another(tmp_path: Path) -> None:
    acknowledge_remote_host(config_for("http://gpu-box:11434"), config_dir=tmp_path)
    assert remote_host_notice(config_for("http://gpu-box:9999"), config_dir=tmp_path)
    assert remote_host_notice(config_for("http://other-box:11434"), config_dir=tmp_path)


def test_acknowledged_hosts_file_is_readable_by_the_user_only(tmp_path: Path) -> None:
    config_dir = tmp_path / "new-config"
    acknowledge_remote_host(config_for("http://gpu-box:11434"), config_dir=config_dir)
    assert stat.S_IMODE(acknowledged_hosts_path(config_dir).stat().st_mode) == 0o600
    assert stat.S_IMODE(config_dir.stat().st_mode) == 0o700


def test_damaged_acknowledgement_file_means_the_notice_is_shown_again(tmp_path: Path) -> None:
    acknowledged_hosts_path(tmp_path).write_text("{not json", encoding="utf-8")
    assert remote_host_notice(config_for("http://gpu-box:11434"), config_dir=tmp_path)


def test_unwritable_config_folder_does_not_fail_acknowledging(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    acknowledge_remote_host(config_for("http://gpu-box:11434"), config_dir=blocker / "config")
    assert remote_host_notice(config_for("http://gpu-box:11434"), config_dir=blocker / "config")


def test_a_remote_openai_compatible_chat_server_gets_the_notice_once(tmp_path: Path) -> None:
    config = AppConfig.from_mapping(
        {
            "data_dir": "/nonexistent",
            "llm_provider": "openai-compatible",
            "llm_base_url": "https://llm.example.com/v1",
        }
    )

    notice = remote_host_notice(config, config_dir=tmp_path)
    acknowledge_remote_host(config, config_dir=tmp_path)

    assert notice is not None and "https://llm.example.com/v1" in notice
    assert remote_host_notice(config, config_dir=tmp_path) is None


def test_a_remote_ollama_that_serves_nothing_gets_no_notice(tmp_path: Path) -> None:
    config = AppConfig.from_mapping(
        {
            "data_dir": "/nonexistent",
            "ollama_host": "http://192.168.1.20:11434",
            "llm_provider": "openai-compatible",
            "llm_base_url": "http://localhost:1234/v1",
            "embedding_provider": "openai-compatible",
            "embedding_base_url": "http://localhost:1234/v1",
        }
    )

    assert remote_host_notice(config, config_dir=tmp_path) is None
