"""Ollama's timeouts in the config: network-friendly defaults, env variables, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from allma_desktop.config import AppConfig, save_settings
from allma_desktop.errors import ConfigError


def config_from(env: dict[str, str], tmp_path: Path) -> AppConfig:
    return AppConfig.from_env(env, settings_file=tmp_path / "none.json")


def test_defaults_give_up_connecting_in_seconds_and_wait_minutes_for_data(
    tmp_path: Path,
) -> None:
    config = config_from({}, tmp_path)
    assert config.ollama_connect_timeout == 5.0
    assert config.request_timeout == 300.0


def test_timeouts_are_read_from_the_environment(tmp_path: Path) -> None:
    config = config_from({"OLLAMA_CONNECT_TIMEOUT": "2.5", "OLLAMA_READ_TIMEOUT": "900"}, tmp_path)
    assert (config.ollama_connect_timeout, config.request_timeout) == (2.5, 900.0)


def test_timeouts_saved_in_settings_are_read_back(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    save_settings(AppConfig(ollama_connect_timeout=12.0, request_timeout=45.0), settings)
    config = AppConfig.from_env({}, settings_file=settings)
    assert (config.ollama_connect_timeout, config.request_timeout) == (12.0, 45.0)


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("OLLAMA_CONNECT_TIMEOUT", "0"),
        ("OLLAMA_CONNECT_TIMEOUT", "-3"),
        ("OLLAMA_CONNECT_TIMEOUT", "301"),
        ("OLLAMA_CONNECT_TIMEOUT", "nan"),
        ("OLLAMA_READ_TIMEOUT", "0"),
        ("OLLAMA_READ_TIMEOUT", "inf"),
        ("OLLAMA_READ_TIMEOUT", "3601"),
    ],
)
def test_an_out_of_range_timeout_names_its_variable_and_the_accepted_range(
    tmp_path: Path, variable: str, raw: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from({variable: raw}, tmp_path)
    assert raised.value.variable == variable
    assert "seconds" in raised.value.accepted and "more than 0" in raised.value.accepted


@pytest.mark.parametrize("variable", ["OLLAMA_CONNECT_TIMEOUT", "OLLAMA_READ_TIMEOUT"])
def test_a_timeout_that_is_not_a_number_says_so(tmp_path: Path, variable: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from({variable: "five minutes"}, tmp_path)
    assert raised.value.variable == variable
    assert raised.value.accepted == "a number"
