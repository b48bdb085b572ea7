"""Runs one answer at a time through ``Orchestrator.chat`` and turns its events into signals."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal

from allma_desktop.cancel import CancelToken
from allma_desktop.errors import AllmaError
from allma_desktop.events import (
    AnswerChecked,
    AnswerDone,
    ChatStarted,
    SourcesFound,
    ThinkingChunk,
    TokenChunk,
)
from allma_desktop.gui.ops import async_op, not_open_error, op

if TYPE_CHECKING:
    from allma_desktop.gui.app_events import AppEvents
    from allma_desktop.gui.orchestrator_host import OrchestratorHost
    from allma_desktop.orchestrator import Orchestrator
    from allma_desktop.records import ContextFit, ContextMode, MessageRecord

log = logging.getLogger(__name__)


class ChatController(QObject):
    """``send`` / ``regenerate`` / ``edit_and_resend`` start an answer; ``stop`` keeps what came.

    Signals follow the stream: ``started`` once the question is stored, ``sources``
    before the answer, then ``thinking`` and ``token`` pieces, then ``finished``
    (an ``AnswerDone``, also after Stop) or ``failed`` (an ``AllmaError``); ``checked``
    may follow ``finished`` with the answer checked against its sources.
    """

    started = Signal(int, int)  # conversation id, assistant message id
    sources = Signal(object)  # tuple[Source, ...]
    thinking = Signal(str)
    token = Signal(str)
    finished = Signal(object)  # AnswerDone
    checked = Signal(object)  # AnswerChecked: after finished, the answer against its sources
    failed = Signal(object)  # AllmaError
    busy_changed = Signal(bool)
    # How much of the model's context the documents take whole (``ContextFit``), or None
    # when it cannot be told (the model server is not reachable, say): the chat options' meter.
    context_fit = Signal(object)

    def __init__(self, host: OrchestratorHost, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._host = host
        self._cancel: CancelToken | None = None
        self._task: asyncio.Task[None] | None = None
        self._running = False
        self._fit_asked = 0  # the latest measure asked for; an older answer is dropped

    @property
    def events(self) -> AppEvents:
        return self._host.events

    @property
    def default_model(self) -> str:
        return self._host.config.ollama_model

    @property
    def busy(self) -> bool:
        return self._running

    def send(
        self,
        text: str,
        conversation_id: int | None,
        model: str | None = None,
        collection_id: int | None = None,
        use_documents: bool = True,
        context_mode: ContextMode | None = None,
    ) -> None:
        self._start(
            text,
            conversation_id,
            model=model,
            collection_id=collection_id,
            use_documents=use_documents,
            context_mode=context_mode,
        )

    def regenerate(self, conversation_id: int) -> None:
        """Ask the last question again, replacing its answer."""
        if self.busy:
            return
        op(
            self._host,
            lambda o: o.conversation_messages(conversation_id),
            description="Loading the last question",
        ).success(lambda messages: self._ask_again(conversation_id, messages)).failure(
            self.failed.emit
        ).run()

    def _ask_again(self, conversation_id: int, messages: list[MessageRecord]) -> None:
        questions = [m for m in messages if m.role == "user"]
        if not questions:
            return
        last = questions[-1]
        self._start(last.content, conversation_id, replace_from_message_id=last.id)

    def edit_and_resend(self, conversation_id: int, message_id: int, text: str) -> None:
        """Replace question ``message_id`` (and everything after it) with ``text`` and answer."""
        self._start(text, conversation_id, replace_from_message_id=message_id)

    def measure_context(
        self, collection_id: int | None, model: str | None, conversation_id: int | None
    ) -> None:
        """Measure how much of ``model``'s context the collection takes; ``context_fit``
        gets the latest answer only."""
        self._fit_asked += 1
        asked = self._fit_asked

        def done(fit: ContextFit | None) -> None:
            if asked == self._fit_asked:
                self.context_fit.emit(fit)

        def failed(error: AllmaError) -> None:
            log.info("no context meter: %s", error)  # the meter hides; the chat says more
            done(None)

        (
            async_op(
                self._host,
                lambda o: o.context_fit(collection_id, model, conversation_id),
                description="Measuring the documents",
            )
            .success(done)
            .failure(failed)
            .quiet_when_closed()
            .run()
        )

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    async def wait(self) -> None:
        """Until the current answer (if any) has finished; for callers that must not overlap."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    # --- internals ------------------------------------------------------------------

    def _start(
        self,
        text: str,
        conversation_id: int | None,
        *,
        model: str | None = None,
        collection_id: int | None = None,
        use_documents: bool | None = None,
        replace_from_message_id: int | None = None,
        context_mode: ContextMode | None = None,
    ) -> None:
        if self.busy or not text.strip():
            return
        if not self._host.ready:
            self.failed.emit(not_open_error())
            return
        cancel = CancelToken()
        self._cancel = cancel
        self._running = True
        self._task = (
            async_op(
                self._host,
                lambda o: self._stream(
                    o,
                    text.strip(),
                    conversation_id,
                    model=model,
                    collection_id=collection_id,
                    use_documents=use_documents,
                    replace_from_message_id=replace_from_message_id,
                    context_mode=context_mode,
                    cancel=cancel,
                ),
                description="The answer",
            )
            .failure(self.failed.emit)
            .finally_(self._stopped)
            .run()
        )
        self.busy_changed.emit(True)

    def _stopped(self) -> None:
        self._cancel = None
        self._running = False
        self.busy_changed.emit(False)

    async def _stream(
        self,
        orchestrator: Orchestrator,
        text: str,
        conversation_id: int | None,
        *,
        model: str | None,
        collection_id: int | None,
        use_documents: bool | None,
        replace_from_message_id: int | None,
        context_mode: ContextMode | None,
        cancel: CancelToken,
    ) -> None:
        """Turn the answer's events into signals; failures are the op's to report."""
        events = self._host.events
        stream = orchestrator.chat(
            conversation_id,
            text,
            model=model,
            collection_id=collection_id,
            use_documents=use_documents,
            cancel=cancel,
            replace_from_message_id=replace_from_message_id,
            context_mode=context_mode,
        )
        async for event in stream:
            if isinstance(event, TokenChunk):
                self.token.emit(event.text)
            elif isinstance(event, ThinkingChunk):
                self.thinking.emit(event.text)
            elif isinstance(event, SourcesFound):
                self.sources.emit(event.sources)
            elif isinstance(event, ChatStarted):
                self.started.emit(event.conversation_id, event.assistant_message_id)
                # The new question moved the conversation to the top (or created it).
                events.conversations_changed.emit()
            elif isinstance(event, AnswerDone):
                self.finished.emit(event)
                events.conversations_changed.emit()
            elif isinstance(event, AnswerChecked):
                self.checked.emit(event)
