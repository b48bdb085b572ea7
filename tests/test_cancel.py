"""The cancel token: a flag an operation checks, and a wake-up for one that waits."""

from __future__ import annotations

import threading

from allma_desktop.cancel import CancelToken


def test_a_cancel_from_another_thread_calls_each_waiting_operation_once() -> None:
    token = CancelToken()
    woken: list[str] = []
    token.on_cancel(lambda: woken.append("ingest"))
    token.on_cancel(lambda: woken.append("answer"))

    thread = threading.Thread(target=token.cancel)
    thread.start()
    thread.join()
    token.cancel()  # a second click on Cancel

    assert token.cancelled
    assert sorted(woken) == ["answer", "ingest"]


def test_an_operation_that_starts_waiting_after_the_cancel_is_told_at_once() -> None:
    token = CancelToken()
    token.cancel()
    woken: list[bool] = []

    token.on_cancel(lambda: woken.append(True))

    assert woken == [True]


def test_an_operation_that_ended_is_not_called_by_a_later_cancel() -> None:
    token = CancelToken()
    woken: list[bool] = []
    forget = token.on_cancel(lambda: woken.append(True))

    forget()
    token.cancel()

    assert woken == []
    assert token.cancelled
