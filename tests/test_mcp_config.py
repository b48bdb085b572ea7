"""The MCP configurations offered in Settings start `allma mcp` as this machine would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from allma_desktop.mcp_config import HOSTS, host_config, http_config, mcp_command


def test_the_command_runs_allma_mcp_here() -> None:
    command = mcp_command()
    assert command[-1] == "mcp"

    shown = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)

    assert shown.returncode == 0, shown.stderr
    assert "MCP" in shown.stdout


def test_the_packaged_app_runs_itself_with_mcp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)

    assert mcp_command() == [sys.executable, "mcp"]


@pytest.mark.parametrize("host", HOSTS, ids=[h.name for h in HOSTS])
def test_each_host_gets_json_in_its_own_shape(host: object) -> None:
    pasted = json.loads(host_config(host, ["/opt/allma/allma", "mcp"]))  # type: ignore[arg-type]

    server = next(iter(pasted.values()))["allma"]
    assert server["command"] == "/opt/allma/allma" and server["args"] == ["mcp"]


def test_the_http_configuration_carries_the_token() -> None:
    pasted = json.loads(http_config("http://127.0.0.1:8000", "secret"))

    server = pasted["servers"]["allma"]
    assert server["url"] == "http://127.0.0.1:8000/mcp"
    assert server["headers"] == {"Authorization": "Bearer secret"}
