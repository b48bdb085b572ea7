"""ApiServer on the test's own event loop: start, serve, stop, and the port-in-use message."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from allma_desktop.api.app import ApiOptions, create_app
from allma_desktop.api.server import ApiServer, exposure_warning
from allma_desktop.config import AppConfig
from allma_desktop.errors import PortInUse
from tests.support.ollama_server import OllamaTestServer


@pytest.fixture
def busy_port() -> Iterator[int]:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        yield holder.getsockname()[1]
    finally:
        holder.close()


def unopened_api(tmp_path: Path, host: str = "127.0.0.1", port: int = 0) -> ApiServer:
    app = create_app(lambda: None, AppConfig(data_dir=tmp_path), ApiOptions(token="t"))
    return ApiServer(app, host, port)


async def test_the_server_serves_on_the_running_loop_until_stopped(tmp_path: Path) -> None:
    server = unopened_api(tmp_path)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url) as client:
            response = await client.get("/health")
    finally:
        await server.stop()

    assert response.status_code == 503  # the library is not open yet
    assert response.json()["error"]["code"] == "engine_not_ready"
    assert not server.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/health")


async def test_a_port_in_use_names_the_port_and_how_to_change_it(
    tmp_path: Path, busy_port: int
) -> None:
    server = unopened_api(tmp_path, port=busy_port)

    with pytest.raises(PortInUse) as raised:
        await server.start()

    assert str(busy_port) in raised.value.message
    assert "API_PORT" in raised.value.hint


async def test_listening_beyond_loopback_logs_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = unopened_api(tmp_path, host="0.0.0.0")
    with caplog.at_level(logging.WARNING, logger="allma_desktop.api.server"):
        await server.start()
        await server.stop()

    assert "other machines on the network" in caplog.text


def test_loopback_addresses_need_no_warning() -> None:
    assert exposure_warning("127.0.0.1", 8000) is None
    assert exposure_warning("::1", 8000) is None
    assert exposure_warning("localhost", 8000) is None
    assert exposure_warning("192.168.1.5", 8000) is not None


def test_allma_serve_on_a_busy_port_says_which_port_and_exits_1(
    tmp_path: Path, ollama_server: OllamaTestServer, busy_port: int
) -> None:
    env = {
        **os.environ,
        "OLLAMA_HOST": ollama_server.url,
        "ALLMA_DATA_DIR": str(tmp_path / "data"),
        "ALLMA_CONFIG_DIR": str(tmp_path / "config"),
        "ALLMA_LOG_DIR": str(tmp_path / "logs"),
        "API_PORT": str(busy_port),
    }

    result = subprocess.run(
        [sys.executable, "-m", "allma_desktop.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1
    assert f"Port {busy_port}" in result.stderr
    assert "API_PORT" in result.stderr
    assert "Traceback" not in result.stderr
