"""Conversations, documents and collections: what a client needs around chat and ingest."""

# No `from __future__ import annotations`: FastAPI reads these annotations at runtime.

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from allma_desktop.api.context import ApiContext, api_context, current_orchestrator
from allma_desktop.api.schemas import (
    MAX_ID,
    MAX_NAME_CHARS,
    CollectionCreate,
    CollectionOut,
    ConversationDetail,
    ConversationOut,
    ConversationUpdate,
    DocumentOut,
    MessageOut,
)
from allma_desktop.errors import AllmaError
from allma_desktop.records import ContextMode

if TYPE_CHECKING:
    from allma_desktop.orchestrator import Orchestrator
else:
    Orchestrator = Any  # imported lazily: the orchestrator pulls in chromadb

router = APIRouter()


class NameTaken(AllmaError):
    code = "name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(
            f"There is already a collection named '{name}'.",
            "Pick another name, or add the documents to that collection.",
        )


OrchestratorDep = Annotated["Orchestrator", Depends(current_orchestrator)]
Context = Annotated[ApiContext, Depends(api_context)]
IdInPath = Annotated[int, Path(ge=1, le=MAX_ID)]


# --- conversations ---------------------------------------------------------------------------


@router.get("/conversations", response_model=list[ConversationOut], summary="Conversations")
async def list_conversations(
    orchestrator: OrchestratorDep,
    search: Annotated[str | None, Query(max_length=MAX_NAME_CHARS)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> list[ConversationOut]:
    """Most recent first; `search` keeps those whose title or messages mention it."""
    if search:
        found = await asyncio.to_thread(orchestrator.search_conversations, search, limit=limit)
    else:
        found = await asyncio.to_thread(orchestrator.list_conversations, limit, offset)
    return [ConversationOut.of(c) for c in found]


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationDetail,
    summary="A conversation with its messages and their sources",
)
async def get_conversation(
    conversation_id: IdInPath, orchestrator: OrchestratorDep
) -> ConversationDetail:
    record = await asyncio.to_thread(orchestrator.conversation, conversation_id)
    stored = await asyncio.to_thread(orchestrator.conversation_messages, conversation_id)
    messages = [MessageOut.of(m) for m in stored]
    return ConversationDetail(**ConversationOut.of(record).model_dump(), messages=messages)


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    summary="Change what a conversation gives the model from its documents",
)
async def update_conversation(
    conversation_id: IdInPath,
    body: ConversationUpdate,
    orchestrator: OrchestratorDep,
    context: Context,
) -> ConversationOut:
    record = await asyncio.to_thread(
        orchestrator.set_conversation_context_mode, conversation_id, ContextMode(body.context_mode)
    )
    context.changed("conversations")
    return ConversationOut.of(record)


@router.delete("/conversations/{conversation_id}", status_code=204, response_class=Response)
async def delete_conversation(
    conversation_id: IdInPath, orchestrator: OrchestratorDep, context: Context
) -> Response:
    # A NotFound that names the id.
    await asyncio.to_thread(orchestrator.delete_conversation, conversation_id)
    context.changed("conversations")
    return Response(status_code=204)


# --- documents --------------------------------------------------------------------------------


@router.get("/documents", response_model=list[DocumentOut], summary="Documents in the library")
async def list_documents(
    orchestrator: OrchestratorDep,
    collection_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
) -> list[DocumentOut]:
    if collection_id is not None:
        # A 404 for a collection that is not there.
        await asyncio.to_thread(orchestrator.collection, collection_id)
    documents = await asyncio.to_thread(orchestrator.list_documents, collection_id)
    return [DocumentOut.of(d) for d in documents]


@router.delete("/documents/{document_id}", status_code=204, response_class=Response)
async def delete_document(
    document_id: Annotated[str, Path(max_length=200)],
    orchestrator: OrchestratorDep,
    context: Context,
) -> Response:
    """Remove a document from the library (the file itself is left alone)."""
    await orchestrator.remove_document(document_id)
    context.changed("documents")
    return Response(status_code=204)


# --- collections ------------------------------------------------------------------------------


@router.get("/collections", response_model=list[CollectionOut], summary="Collections")
async def list_collections(orchestrator: OrchestratorDep) -> list[CollectionOut]:
    return [CollectionOut.of(c) for c in await asyncio.to_thread(orchestrator.collections)]


@router.post("/collections", response_model=CollectionOut, status_code=201)
async def create_collection(
    body: CollectionCreate, orchestrator: OrchestratorDep, context: Context
) -> CollectionOut:
    name = body.name.strip()
    if any(c.name == name for c in await asyncio.to_thread(orchestrator.collections)):
        raise NameTaken(name)
    record = await asyncio.to_thread(orchestrator.create_collection, name)
    context.changed("collections")
    return CollectionOut.of(record)


@router.delete("/collections/{collection_id}", status_code=204, response_class=Response)
async def delete_collection(
    collection_id: IdInPath, orchestrator: OrchestratorDep, context: Context
) -> Response:
    """Delete a collection with its documents' index entries (files are left alone)."""
    await orchestrator.delete_collection(collection_id)
    context.changed("collections")
    return Response(status_code=204)
