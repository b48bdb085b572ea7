"""Ready-to-paste MCP configurations for the common hosts (Settings → Use from other apps).

Each host starts ``allma mcp`` itself over stdio; this module says how to start it on
this machine (the installed ``allma`` command, the packaged app, or this Python) and
writes the snippet each host's configuration file expects.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

SERVER_KEY = "allma"


@dataclass(frozen=True)
class McpHost:
    name: str
    where: str  # where its configuration lives, as its documentation says
    servers_key: str  # the object that holds the servers
    with_type: bool  # VS Code wants "type": "stdio"


HOSTS = (
    McpHost(
        "Claude Desktop",
        "Settings → Developer → Edit Config (claude_desktop_config.json)",
        "mcpServers",
        with_type=False,
    ),
    McpHost(
        "VS Code",
        ".vscode/mcp.json in a workspace, or “MCP: Open User Configuration”",
        "servers",
        with_type=True,
    ),
    McpHost(
        "Cursor",
        "~/.cursor/mcp.json (or .cursor/mcp.json in a project)",
        "mcpServers",
        with_type=False,
    ),
)


def mcp_command() -> list[str]:
    """The command line that starts ``allma mcp`` here."""
    if getattr(sys, "frozen", False):  # the packaged app: its executable takes `mcp`
        return [sys.executable, "mcp"]
    scripts = Path(sys.executable).parent
    for name in ("allma", "allma.exe"):
        script = scripts / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script), "mcp"]
    installed = shutil.which("allma")
    if installed:
        return [installed, "mcp"]
    return [sys.executable, "-m", "allma_desktop.cli", "mcp"]


def host_config(host: McpHost, command: list[str] | None = None) -> str:
    """The JSON to paste into *host*'s configuration."""
    program, *args = command or mcp_command()
    server: dict[str, object] = {"command": program, "args": args}
    if host.with_type:
        server = {"type": "stdio", **server}
    return json.dumps({host.servers_key: {SERVER_KEY: server}}, indent=2)


def http_config(url: str, token: str) -> str:
    """For hosts that speak streamable HTTP: the local API's /mcp with its token."""
    server = {"type": "http", "url": f"{url}/mcp", "headers": {"Authorization": f"Bearer {token}"}}
    return json.dumps({"servers": {SERVER_KEY: server}}, indent=2)
