"""Telling the user when their text leaves this computer.

Everything stays local except what the model servers need: the text of added documents
(to embed it), questions, and the excerpts sent with them. When ``OLLAMA_HOST`` (or an
OpenAI-compatible server's URL) points at another machine that is worth saying once,
per host. The CLI prints
``remote_host_notice`` to stderr; the GUI shows it in a dialog. Both call
``acknowledge_remote_host`` afterwards, which remembers the host in a small JSON
file in the config folder so the notice is not repeated.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from allma_desktop.config import AppConfig, default_config_dir

log = logging.getLogger(__name__)

ACKNOWLEDGED_HOSTS_FILE_NAME = "remote-hosts.json"
DEFAULT_OLLAMA_PORT = 11434


def is_local_ollama_host(url: str) -> bool:
    """Whether ``url`` names this machine (loopback, or the "any address" Ollama binds to)."""
    hostname = (urlparse(url).hostname or "").lower().rstrip(".")
    if hostname in {"localhost", "localhost.localdomain"} or hostname.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return False  # a name other than localhost; resolving it would itself be a look-up
    # 0.0.0.0 and :: are how OLLAMA_HOST is often set for `ollama serve`; connecting to
    # them reaches this machine.
    return address.is_loopback or address.is_unspecified


def remote_host_key(url: str) -> str:
    """``host:port`` as remembered: the same server however OLLAMA_HOST spells it."""
    parsed = urlparse(url)
    hostname = (parsed.hostname or "").lower()
    port = parsed.port or (443 if parsed.scheme == "https" else DEFAULT_OLLAMA_PORT)
    if ":" in hostname:
        hostname = f"[{hostname}]"
    return f"{hostname}:{port}"


def acknowledged_hosts_path(config_dir: Path | None = None) -> Path:
    return (config_dir or default_config_dir()) / ACKNOWLEDGED_HOSTS_FILE_NAME


def model_server_hosts(config: AppConfig) -> list[tuple[str, str]]:
    """(name, URL) of each model server ``config`` sends text to: Ollama when it serves chat
    or embeddings, and the OpenAI-compatible server(s) it names."""
    hosts: list[tuple[str, str]] = []
    if config.uses_ollama:
        hosts.append(("Ollama", config.ollama_host))
    for provider, url in (
        (config.llm_provider, config.llm_base_url),
        (config.embedding_provider, config.embedding_base_url),
    ):
        if provider != "ollama" and url and ("The model server", url) not in hosts:
            hosts.append(("The model server", url))
    return hosts


def _remote_hosts(config: AppConfig) -> list[tuple[str, str]]:
    return [
        (name, url) for name, url in model_server_hosts(config) if not is_local_ollama_host(url)
    ]


def remote_host_notice(config: AppConfig, *, config_dir: Path | None = None) -> str | None:
    """The notice to show, or None when the model servers are local or the user was told."""
    told = _read_acknowledged(acknowledged_hosts_path(config_dir))
    for name, host in _remote_hosts(config):
        if remote_host_key(host) in told:
            continue
        runs = "runs" if name == "Ollama" else "is"
        return (
            f"{name} {runs} at {host}, which is not this computer. The text of the documents "
            "you add (to index them), your questions and the document excerpts used to answer "
            "them are sent to that host. Your files, the index and your conversations stay "
            "on this computer."
        )
    return None


def acknowledge_remote_host(config: AppConfig, *, config_dir: Path | None = None) -> None:
    """Remember that the user was told about these hosts; best effort, never raises."""
    remote = _remote_hosts(config)
    if not remote:
        return
    path = acknowledged_hosts_path(config_dir)
    hosts = _read_acknowledged(path)
    hosts.update(remote_host_key(url) for _, url in remote)
    try:
        _write_private_json(path, {"acknowledged_hosts": sorted(hosts)})
    except OSError as error:
        # Not fatal: the worst outcome is being told again next time.
        log.warning("Cannot remember the remote model server in %s: %s", path, error)


def _read_acknowledged(path: Path) -> set[str]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError) as error:
        log.warning("Ignoring unreadable %s: %s", path, error)
        return set()
    hosts = data.get("acknowledged_hosts") if isinstance(data, dict) else None
    if not isinstance(hosts, list):
        return set()
    return {host for host in hosts if isinstance(host, str)}


def _write_private_json(path: Path, data: object) -> None:
    """Write atomically, readable by the user only (the folder too, when created here)."""
    if not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


__all__ = [
    "acknowledge_remote_host",
    "acknowledged_hosts_path",
    "is_local_ollama_host",
    "model_server_hosts",
    "remote_host_key",
    "remote_host_notice",
]
