"""A streamed answer re-renders only its unfinished tail; the finished answer is whole."""

from __future__ import annotations

from pytestqt.qtbot import QtBot

from allma_desktop.gui.widgets.chat_message import FREEZE_AT_CHARS, MessageWidget
from allma_desktop.gui.widgets.markdown_render import stable_prefix_end

PARAGRAPH = "The keeper logs the tide at dawn and at dusk, and the wind every hour. [1]"


def long_answer(paragraphs: int) -> str:
    return "\n\n".join(f"{number}: {PARAGRAPH}" for number in range(paragraphs)) + "\n\nLast"


def test_stable_prefix_ends_where_the_last_complete_block_starts() -> None:
    text = "First paragraph.\n\nSecond paragraph.\n\nThird, still being wri"

    assert stable_prefix_end(text) == text.index("Second")


def test_stable_prefix_waits_for_the_new_line_to_be_complete() -> None:
    text = "First paragraph.\n\nSecond, being writ"

    assert stable_prefix_end(text) == 0


def test_stable_prefix_never_ends_inside_a_code_fence() -> None:
    text = "Intro.\n\n```python\nx = 1\n\ny = 2\n\nz = 3\n"

    assert stable_prefix_end(text) == text.index("```")


def test_stable_prefix_keeps_a_loose_list_together() -> None:
    text = "1. one\n\n2. two\n\n   more about two\n\n3. three\n"

    assert stable_prefix_end(text) == 0


def test_a_long_streamed_answer_renders_only_its_tail(qtbot: QtBot) -> None:
    message = MessageWidget("assistant")
    qtbot.addWidget(message)
    message.start_streaming()
    text = long_answer(40)
    message.append_token(text)

    message.render_body()

    tail = message.body.toPlainText()
    assert len(text) > 5 * FREEZE_AT_CHARS
    assert "Last" in tail and "0: The keeper" not in tail
    assert len(tail) < 2 * FREEZE_AT_CHARS


def test_frozen_blocks_and_tail_together_show_the_whole_answer(qtbot: QtBot) -> None:
    message = MessageWidget("assistant")
    qtbot.addWidget(message)
    message.start_streaming()
    for paragraph in long_answer(30).split("\n\n"):
        message.append_token(paragraph + "\n\n")
        message.render_body()

    views = [*message._frozen_views, message.body]
    shown = "".join(view.toPlainText() for view in views)
    assert [n for n in range(30) if f"{n}: The keeper" in shown] == list(range(30))


def test_the_finished_answer_is_rendered_whole_in_one_view(qtbot: QtBot) -> None:
    message = MessageWidget("assistant")
    qtbot.addWidget(message)
    message.start_streaming()
    text = long_answer(40)
    message.append_token(text)
    message.render_body()

    message.finish(text, "", [])

    assert message._frozen_views == []
    assert "0: The keeper" in message.body.toPlainText()
    assert "39: The keeper" in message.body.toPlainText()
