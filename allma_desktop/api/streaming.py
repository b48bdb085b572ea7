"""Turning the orchestrator's chat stream into HTTP answers (JSON or Server-Sent Events)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from allma_desktop.api.json_body import json_text
from allma_desktop.events import AnswerChecked, AnswerDone, ChatEvent, ThinkingChunk, TokenChunk

SSE_MEDIA_TYPE = "text/event-stream"
# Proxies must not hold back events (nginx buffers unless told).
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def wants_event_stream(accept: str | None) -> bool:
    return SSE_MEDIA_TYPE in (accept or "").lower()


def sse(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json_text(data)}\n\n".encode()


async def primed_chat(
    events: AsyncIterator[ChatEvent],
) -> tuple[list[ChatEvent], AsyncIterator[ChatEvent]]:
    """Read the stream up to the first answer text, or its end.

    A chat that fails before it says anything (Ollama down, model missing) then
    raises its ``AllmaError`` here, while an HTTP status can still tell the client.
    """
    read: list[ChatEvent] = []
    async for event in events:
        read.append(event)
        if isinstance(event, TokenChunk | ThinkingChunk | AnswerDone):
            break
    last = read[-1] if read else None
    if isinstance(last, AnswerDone) and last.error is not None and not last.answer:
        raise last.error
    return read, events


async def replayed(
    read: list[ChatEvent], rest: AsyncIterator[ChatEvent]
) -> AsyncIterator[ChatEvent]:
    for event in read:
        yield event
    async for event in rest:  # after AnswerDone, its check (AnswerChecked) may follow
        yield event


async def final_answer(events: AsyncIterator[ChatEvent]) -> AnswerDone:
    """The stream's ``AnswerDone``, with the check of the answer when one followed it."""
    done: AnswerDone | None = None
    async for event in events:
        done = with_check(done, event)
    if done is None:  # the orchestrator always ends with AnswerDone; this is a bug
        raise RuntimeError("the chat stream ended without an answer")
    return done


def with_check(done: AnswerDone | None, event: ChatEvent) -> AnswerDone | None:
    """Fold ``AnswerDone`` and the ``AnswerChecked`` after it into one answer."""
    if isinstance(event, AnswerDone):
        return event
    if isinstance(event, AnswerChecked) and done is not None:
        return replace(done, grounding=event.grounding)
    return done
