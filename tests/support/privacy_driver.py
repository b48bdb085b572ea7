"""Run Allma with every network call recorded, for the privacy tests.

Usage: ``python -m tests.support.privacy_driver REPORT.json SCENARIO.json``

An audit hook (``sys.addaudithook``) sees every socket connect, name look-up and
datagram the Python process makes, whichever library makes it. It is installed
first, before anything of Allma, chromadb or the ollama client is imported, and in
a process of its own because audit hooks cannot be removed. The scenario then runs
the orchestrator (ingest, search, chat, health, models) and the CLI in-process, and
the report lists what the hook saw.

SCENARIO.json: ``{"folder": ..., "question": ..., "cli": [[arg, ...], ...]}``.
REPORT.json: ``{"network": [{"event": ..., "args": [...]}], "processes": [...],
"cli_exit_codes": [...], "answer": ...}``.
"""

from __future__ import annotations

import sys
from typing import Any

NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "socket.sendto",
        "socket.sendmsg",
        "urllib.Request",
    }
)
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn"})

network_calls: list[dict[str, Any]] = []
processes: list[str] = []


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an audit argument (addresses are tuples)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return repr(value)


def _record(event: str, args: tuple[Any, ...]) -> None:
    if event in NETWORK_EVENTS:
        if event == "socket.connect":
            sock, address = args
            network_calls.append(
                {"event": event, "family": int(sock.family), "args": [_plain(address)]}
            )
        elif event in {"socket.sendto", "socket.sendmsg"}:
            network_calls.append({"event": event, "args": [_plain(args[-1])]})
        else:
            network_calls.append({"event": event, "args": [_plain(a) for a in args]})
    elif event in PROCESS_EVENTS:
        processes.append(repr(args)[:300])


sys.addaudithook(_record)

# Everything else is imported only now, under the hook.
import asyncio  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402


async def _orchestrator_run(folder: str, question: str) -> str:
    from allma_desktop.config import AppConfig
    from allma_desktop.events import AnswerDone
    from allma_desktop.orchestrator import Orchestrator

    orchestrator = Orchestrator(AppConfig.from_env())
    await orchestrator.open()
    try:
        async for _ in orchestrator.ingest([folder]):
            pass
        await orchestrator.search(question)
        answer = ""
        async for event in orchestrator.chat(None, question):
            if isinstance(event, AnswerDone):
                answer = event.answer
        await orchestrator.models()
        await orchestrator.health()
        return answer
    finally:
        await orchestrator.close()


def _cli_run(args: list[str]) -> int:
    from allma_desktop.cli import cli

    try:
        cli.main(args, prog_name="allma", standalone_mode=False)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    return 0


def main(report_path: str, scenario_path: str) -> None:
    scenario = json.loads(Path(scenario_path).read_text(encoding="utf-8"))
    report: dict[str, Any] = {"cli_exit_codes": [], "answer": None}
    try:
        report["answer"] = asyncio.run(_orchestrator_run(scenario["folder"], scenario["question"]))
        for args in scenario.get("cli", []):
            report["cli_exit_codes"].append(_cli_run(list(args)))
    finally:
        report["network"] = network_calls
        report["processes"] = processes
        Path(report_path).write_text(json.dumps(report, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
