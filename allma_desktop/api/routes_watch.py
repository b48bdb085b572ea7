"""Watched folders: list, add and stop watching, through the engine's indexer."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from allma_desktop.api.context import ApiContext, api_context, current_orchestrator
from allma_desktop.api.ingest_sources import allowed_folder
from allma_desktop.api.schemas import WatchedFolderCreate, WatchedFolderOut

if TYPE_CHECKING:
    from allma_desktop.indexer import FolderState
    from allma_desktop.orchestrator import Orchestrator
else:
    Orchestrator = Any  # imported lazily: the orchestrator pulls in chromadb

router = APIRouter()

OrchestratorDep = Annotated["Orchestrator", Depends(current_orchestrator)]
Context = Annotated[ApiContext, Depends(api_context)]


@router.get("/watch/folders", response_model=list[WatchedFolderOut], summary="Watched folders")
async def list_watched_folders(orchestrator: OrchestratorDep) -> list[WatchedFolderOut]:
    """The folders kept in sync, with their state (offline: the folder is not there now)."""
    indexer = orchestrator.indexer
    if indexer.started:
        return [_folder_out(state) for state in indexer.folders()]
    folders = await indexer.watched_folders()
    out = []
    for folder in folders:
        present = await asyncio.to_thread(Path(folder.path).is_dir)
        state = "paused" if folder.paused else ("watching" if present else "offline")
        out.append(_out(folder, state, 0, ()))
    return out


@router.post(
    "/watch/folders", response_model=WatchedFolderOut, status_code=201, summary="Watch a folder"
)
async def add_watched_folder(
    body: WatchedFolderCreate, orchestrator: OrchestratorDep, context: Context
) -> WatchedFolderOut:
    """Keep a folder in sync with a collection: indexed now, followed from now on."""
    folder_path = await asyncio.to_thread(
        allowed_folder, body.path, context.ingest_roots, context.config.data_dir
    )
    record = await orchestrator.indexer.add_folder(
        folder_path, body.collection_id, body.ignore, body.max_file_mb
    )
    context.changed("documents")
    return _out(record, "scanning" if orchestrator.indexer.started else "watching", 0, ())


@router.delete(
    "/watch/folders", status_code=204, response_class=Response, summary="Stop watching a folder"
)
async def remove_watched_folder(
    orchestrator: OrchestratorDep,
    path: Annotated[str, Query(min_length=1, max_length=4096)],
) -> Response:
    """Stop keeping the folder in sync. Its documents stay in the library."""
    await orchestrator.indexer.remove_folder(path)
    return Response(status_code=204)


def _folder_out(state: "FolderState") -> WatchedFolderOut:
    return _out(state.folder, state.status, state.pending, state.problems)


def _out(folder: Any, state: str, pending: int, problems: Any) -> WatchedFolderOut:
    return WatchedFolderOut(
        path=folder.path,
        collection_id=folder.collection_id,
        state=state,
        pending=pending,
        ignore=list(folder.ignore),
        max_file_mb=folder.max_file_mb,
        last_sync=folder.last_sync,
        problems=[f"{path}: {problem}" for path, problem in problems],
    )
