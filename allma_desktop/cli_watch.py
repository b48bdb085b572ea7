"""``allma watch ...`` and ``allma sync``: watched folders from the command line.

Thin over the engine's indexer, like the window: ``watch add`` keeps a folder in sync
with a collection, ``sync`` rescans every watched folder once and says what changed,
``watch run`` keeps following them with no window (beside ``allma serve`` on a server).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from allma_desktop.cli_support import EXIT_PARTIAL, collection_id_named, echo_json, engine_command
from allma_desktop.errors import AllmaError

if TYPE_CHECKING:
    from allma_desktop.indexer import IndexerEvent, SyncReport, WatchedFolderRecord
    from allma_desktop.orchestrator import Orchestrator


@click.group()
def watch() -> None:
    """Folders kept in sync with a collection: new, changed, moved and deleted files follow."""


@watch.command("add")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "--collection", "collection_name", help="Collection to keep it in (default: Library)."
)
@click.option(
    "--ignore",
    "ignores",
    multiple=True,
    metavar="GLOB",
    help="Leave out matching files or folders (repeatable): '*.tmp', 'node_modules/', 'drafts/*'.",
)
@click.option(
    "--max-size",
    "max_file_mb",
    type=click.FloatRange(min=0.01),
    help="Leave out files over this many MB.",
)
@click.option("--no-sync", is_flag=True, help="Only remember it; index it at the next sync.")
@engine_command
async def watch_add(
    orchestrator: Orchestrator,
    path: Path,
    collection_name: str | None,
    ignores: tuple[str, ...],
    max_file_mb: float | None,
    no_sync: bool,
) -> int:
    """Keep a folder in sync with a collection (and index it now)."""
    from allma_desktop.indexer import DEFAULT_IGNORES

    collection_id = collection_id_named(orchestrator, collection_name, create=True)
    indexer = orchestrator.indexer
    patterns = [*DEFAULT_IGNORES, *ignores]
    folder = await indexer.add_folder(path, collection_id, patterns, max_file_mb)
    click.echo(f"Watching {folder.path}.")
    if no_sync:
        return 0
    try:
        await indexer.start(watch=False)
    except AllmaError:
        click.echo("The Allma app (or `allma watch run`) is running: it indexes the folder now.")
        return 0
    reports = [r for r in await _sync_with_progress(orchestrator) if r.folder == folder.path]
    _print_reports(reports)
    return EXIT_PARTIAL if any(r.failed for r in reports) else 0


@watch.command("list")
@click.option("--json", "as_json", is_flag=True)
@engine_command
async def watch_list(orchestrator: Orchestrator, as_json: bool) -> int:
    """The watched folders, with their collection and state."""
    folders = await orchestrator.indexer.watched_folders()
    names = {c.id: c.name for c in orchestrator.collections()}
    pending = _pending_by_folder(orchestrator, folders)
    rows = []
    for folder in folders:
        present = await asyncio.to_thread(Path(folder.path).is_dir)
        state = "paused" if folder.paused else ("watching" if present else "offline")
        rows.append(
            {
                "path": folder.path,
                "collection": names.get(folder.collection_id, str(folder.collection_id)),
                "state": state,
                "pending": pending.get(folder.id, 0),
                "last_sync": folder.last_sync.isoformat() if folder.last_sync else None,
                "ignore": list(folder.ignore),
                "max_file_mb": folder.max_file_mb,
            }
        )
    if as_json:
        echo_json(rows)
        return 0
    if not rows:
        click.echo("No watched folders. Add one with `allma watch add PATH`.")
        return 0
    for row in rows:
        synced = _when(row["last_sync"]) if row["last_sync"] else "never synced"
        extra = f", {row['pending']} pending" if row["pending"] else ""
        click.echo(f"{row['path']}  [{row['collection']}]  {row['state']}{extra}, {synced}")
    return 0


@watch.command("remove")
@click.argument("path", type=click.Path(path_type=Path))
@engine_command
async def watch_remove(orchestrator: Orchestrator, path: Path) -> int:
    """Stop keeping a folder in sync. Its documents stay in the library."""
    folder = await orchestrator.indexer.remove_folder(path)
    click.echo(
        f"No longer watching {folder.path}. Its documents stay; remove them with "
        "`allma docs remove`."
    )
    return 0


@watch.command("run")
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line per event.")
@engine_command
async def watch_run(orchestrator: Orchestrator, as_json: bool) -> int:
    """Keep the watched folders in sync until stopped (Ctrl+C): the app's indexer, headless."""
    indexer = orchestrator.indexer
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still raises
            loop.add_signal_handler(signum, stop.set)
    indexer.subscribe(lambda event: _print_event(event, as_json))
    await indexer.start(watch=True)
    folders = await indexer.watched_folders()
    if not as_json:
        click.echo(f"Watching {len(folders)} folder(s). Press Ctrl+C to stop.", err=True)
    await stop.wait()
    return 0


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print what changed as JSON.")
@engine_command
async def sync(orchestrator: Orchestrator, as_json: bool) -> int:
    """Rescan every watched folder once: index new and changed files, follow moved ones,
    remove deleted ones (never those of a folder that is missing: they are kept offline)."""
    await orchestrator.indexer.start(watch=False)
    reports = await _sync_with_progress(orchestrator, quiet=as_json)
    if as_json:
        echo_json([report.as_dict() for report in reports])
    else:
        _print_reports(reports)
    return EXIT_PARTIAL if any(r.failed for r in reports) else 0


async def _sync_with_progress(orchestrator: Orchestrator, quiet: bool = False) -> list[SyncReport]:
    from allma_desktop.events import FileFinished
    from allma_desktop.indexer import FileEvent

    done = [0]

    def show(event: IndexerEvent) -> None:
        if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
            done[0] += 1
            left = len(orchestrator.indexer.queued())
            click.echo(f"\rIndexed {done[0]:,}, {left:,} to go   ", nl=False, err=True)

    unsubscribe = None if quiet else orchestrator.indexer.subscribe(show)
    try:
        return await orchestrator.indexer.sync(wait=True)
    finally:
        if unsubscribe is not None:
            unsubscribe()
            if done[0]:
                click.echo("", err=True)


def _print_reports(reports: list[SyncReport]) -> None:
    if not reports:
        click.echo("No watched folders. Add one with `allma watch add PATH`.")
    for report in reports:
        if report.offline:
            click.echo(f"{report.folder}: not found (unplugged?); its documents are kept.")
            continue
        parts = [
            f"{len(report.added)} added",
            f"{len(report.changed)} changed",
            f"{len(report.moved)} moved",
            f"{len(report.removed)} removed",
            f"{report.unchanged} unchanged",
            f"{len(report.failed)} failed",
        ]
        click.echo(f"{report.folder}: {', '.join(parts)}")
        for path, reason in report.failed:
            click.echo(f"  failed: {path}: {reason}")
        for path, problem in report.problems:
            click.echo(f"  note: {path} {problem}")
        for path in report.too_large:
            click.echo(f"  left out (over the size cap): {path}")


def _print_event(event: IndexerEvent, as_json: bool) -> None:
    from allma_desktop.events import FileFinished
    from allma_desktop.indexer import DocumentsChanged, FileEvent, FoldersChanged, QueueChanged

    if isinstance(event, FileEvent) and isinstance(event.event, FileFinished):
        finished = event.event
        if as_json:
            _echo_line({"event": "file", "path": finished.path, "status": finished.status,
                        "reason": finished.reason})  # fmt: skip
        else:
            reason = f": {finished.reason}" if finished.reason else ""
            click.echo(f"{finished.status}: {finished.path}{reason}")
    elif isinstance(event, QueueChanged) and event.paused and event.pause_reason is not None:
        error = event.pause_reason
        if as_json:
            _echo_line({"event": "paused", "message": error.message, "hint": error.hint})
        else:
            click.echo(f"Paused: {error.message} {error.hint}".rstrip(), err=True)
    elif isinstance(event, FoldersChanged):
        offline = {state.folder.path for state in event.folders if state.status == "offline"}
        for path in sorted(offline ^ _OFFLINE_SHOWN):
            went = path in offline
            if as_json:
                _echo_line({"event": "offline" if went else "online", "folder": path})
            elif went:
                click.echo(f"offline: {path} is not there; its documents are kept.", err=True)
            else:
                click.echo(f"back: {path}", err=True)
        _OFFLINE_SHOWN.clear()
        _OFFLINE_SHOWN.update(offline)
    elif isinstance(event, DocumentsChanged) and as_json:
        _echo_line({"event": "documents_changed", "collections": sorted(event.collection_ids)})


_OFFLINE_SHOWN: set[str] = set()  # folders `watch run` has said are offline


def _echo_line(data: dict[str, Any]) -> None:
    import json

    click.echo(json.dumps(data, ensure_ascii=False))
    sys.stdout.flush()


def _pending_by_folder(
    orchestrator: Orchestrator, folders: list[WatchedFolderRecord]
) -> dict[int, int]:
    items = orchestrator.queued_files()
    counts: dict[int, int] = {}
    for item in items:
        for folder in folders:
            if folder.collection_id == item.collection_id and folder.holds(item.path):
                counts[folder.id] = counts.get(folder.id, 0) + 1
                break
    return counts


def _when(iso: object) -> str:
    moment = datetime.fromisoformat(str(iso)).astimezone()
    return f"last synced {moment:%Y-%m-%d %H:%M}"
