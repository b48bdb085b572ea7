"""AppConfig: environment over settings file over defaults, and clear errors for bad values."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from allma_desktop.config import AppConfig, is_loopback_host, save_settings
from allma_desktop.errors import ConfigError


def test_defaults_match_the_documented_values(tmp_path: Path) -> None:
    config = AppConfig.from_env({}, settings_file=tmp_path / "none.json")
    assert config.ollama_host == "http://localhost:11434"
    assert config.ollama_model == "deepseek-r1:latest"
    assert config.ollama_embedding_model == "nomic-embed-text:latest"
    assert config.api_host == "127.0.0.1"
    assert config.api_port == 8000
    assert config.log_level == "INFO"


def test_environment_overrides_settings_file(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"ollama_model": "llama3.2", "api_port": 9000}))
    config = AppConfig.from_env({"OLLAMA_MODEL": "qwen3:4b"}, settings_file=settings)
    assert config.ollama_model == "qwen3:4b"
    assert config.api_port == 9000


def test_vector_store_path_wins_over_chroma_persist_directory(tmp_path: Path) -> None:
    env = {
        "CHROMA_PERSIST_DIRECTORY": str(tmp_path / "a"),
        "VECTOR_STORE_PATH": str(tmp_path / "b"),
    }
    config = AppConfig.from_env(env, settings_file=tmp_path / "none.json")
    assert config.vectors_path == tmp_path / "b"


def test_chroma_persist_directory_is_honoured_alone(tmp_path: Path) -> None:
    env = {"CHROMA_PERSIST_DIRECTORY": str(tmp_path / "a")}
    config = AppConfig.from_env(env, settings_file=tmp_path / "none.json")
    assert config.vectors_path == tmp_path / "a"


def test_bare_host_gets_scheme_and_default_port(tmp_path: Path) -> None:
    config = AppConfig.from_env({"OLLAMA_HOST": "gpu-box"}, settings_file=tmp_path / "x.json")
    assert config.ollama_host == "http://gpu-box:11434"


@pytest.mark.parametrize(
    ("variable", "value", "accepted"),
    [
        ("API_PORT", "eighty", "whole number"),
        ("API_PORT", "70000", "1 to 65535"),
        ("LOG_LEVEL", "LOUD", "DEBUG"),
        ("OLLAMA_HOST", "ftp://x", "http://localhost:11434"),
    ],
)
def test_bad_value_names_variable_and_accepted_values(
    tmp_path: Path, variable: str, value: str, accepted: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_env({variable: value}, settings_file=tmp_path / "none.json")
    assert variable in str(caught.value)
    assert accepted in str(caught.value)


def test_settings_file_with_bad_json_is_named(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_env({}, settings_file=settings)
    assert str(settings) in str(caught.value)


def test_saved_settings_round_trip_and_are_private(tmp_path: Path) -> None:
    settings = tmp_path / "cfg" / "settings.json"
    config = AppConfig.from_env({}, settings_file=settings).with_changes(
        temperature=0.7, top_k=8, data_dir=tmp_path / "data"
    )
    save_settings(config, settings)
    again = AppConfig.from_env({}, settings_file=settings)
    assert again == config
    assert settings.stat().st_mode & 0o077 == 0


def test_loopback_hosts_are_recognised() -> None:
    assert is_loopback_host("http://127.0.0.1:11434")
    assert is_loopback_host("http://localhost:11434")
    assert not is_loopback_host("http://192.168.1.20:11434")


# --- vector stores and remote services ------------------------------------------


def test_vector_store_defaults_to_embedded_chroma(tmp_path: Path) -> None:
    config = AppConfig.from_env({}, settings_file=tmp_path / "none.json")
    assert config.vector_store == "chroma"
    assert config.qdrant_url == ""
    assert config.ollama_headers == {}


def test_vector_store_is_read_from_the_environment(tmp_path: Path) -> None:
    config = AppConfig.from_env({"VECTOR_STORE": "FAISS"}, settings_file=tmp_path / "none.json")
    assert config.vector_store == "faiss"


def test_unknown_vector_store_names_the_variable_and_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="VECTOR_STORE") as raised:
        AppConfig.from_env({"VECTOR_STORE": "pinecone"}, settings_file=tmp_path / "none.json")
    assert "chroma-http" in raised.value.accepted and "qdrant" in raised.value.accepted


def test_chroma_server_settings_are_parsed_from_the_environment(tmp_path: Path) -> None:
    env = {
        "VECTOR_STORE": "chroma-http",
        "CHROMA_HOST": "chroma.lan",
        "CHROMA_PORT": "9000",
        "CHROMA_SSL": "yes",
        "CHROMA_TOKEN": "s3cret",
    }
    config = AppConfig.from_env(env, settings_file=tmp_path / "none.json")
    assert (config.chroma_host, config.chroma_port, config.chroma_ssl, config.chroma_token) == (
        "chroma.lan",
        9000,
        True,
        "s3cret",
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CHROMA_PORT", "70000"),
        ("CHROMA_PORT", "eighty"),
        ("CHROMA_SSL", "maybe"),
        ("CHROMA_HOST", "http://chroma.lan"),
        ("QDRANT_URL", "qdrant.lan:6333"),
        ("OLLAMA_HEADERS", "Authorization: Bearer x"),
        ("OLLAMA_HEADERS", '{"Bad Name": "x"}'),
    ],
)
def test_bad_remote_store_settings_name_their_variable(
    tmp_path: Path, variable: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=variable):
        AppConfig.from_env({variable: value}, settings_file=tmp_path / "none.json")


def test_a_bad_token_is_not_echoed_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_env({"CHROMA_TOKEN": "leaked secret"}, settings_file=tmp_path / "n.json")
    assert "leaked" not in str(raised.value)


def test_qdrant_server_url_and_key_are_read_from_the_environment(tmp_path: Path) -> None:
    env = {"QDRANT_URL": "https://qdrant.lan:6333/", "QDRANT_API_KEY": "key"}
    config = AppConfig.from_env(env, settings_file=tmp_path / "none.json")
    assert (config.qdrant_url, config.qdrant_api_key) == ("https://qdrant.lan:6333", "key")


def test_ollama_headers_come_from_json_in_the_environment(tmp_path: Path) -> None:
    env = {"OLLAMA_HEADERS": '{"Authorization": "Bearer abc"}'}
    config = AppConfig.from_env(env, settings_file=tmp_path / "none.json")
    assert config.ollama_headers == {"Authorization": "Bearer abc"}


def test_vector_store_settings_survive_a_save_and_reload(tmp_path: Path) -> None:
    settings = tmp_path / "settings.json"
    config = AppConfig.from_env({}, settings_file=settings).with_changes(
        vector_store="qdrant", qdrant_url="http://q:6333", ollama_headers={"X-Team": "a"}
    )
    save_settings(config, settings)
    reloaded = AppConfig.from_env({}, settings_file=settings)
    assert (reloaded.vector_store, reloaded.qdrant_url, reloaded.ollama_headers) == (
        "qdrant",
        "http://q:6333",
        {"X-Team": "a"},
    )


def test_ocr_languages_default_to_english_and_are_read_as_tesseract_names(
    tmp_path: Path,
) -> None:
    none = tmp_path / "none.json"
    assert AppConfig.from_env({}, settings_file=none).ocr_languages == "eng"

    config = AppConfig.from_env({"ALLMA_OCR_LANGUAGES": "eng, DEU deu"}, settings_file=none)

    assert config.ocr_languages == "eng+deu"


@pytest.mark.parametrize("value", ["eng+../fra", "+", "eng;deu"])
def test_bad_ocr_languages_name_the_variable_and_the_form(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_env({"ALLMA_OCR_LANGUAGES": value}, settings_file=tmp_path / "none.json")

    assert raised.value.variable == "ALLMA_OCR_LANGUAGES"
    assert "eng+deu" in raised.value.accepted


def test_related_words_are_off_unless_asked_for(tmp_path: Path) -> None:
    none = tmp_path / "none.json"
    assert AppConfig.from_env({}, settings_file=none).related_words is False
    assert AppConfig.from_env({"ALLMA_RELATED_WORDS": "true"}, settings_file=none).related_words
    with pytest.raises(ConfigError) as caught:
        AppConfig.from_env({"ALLMA_RELATED_WORDS": "sometimes"}, settings_file=none)
    assert "ALLMA_RELATED_WORDS" in str(caught.value)
