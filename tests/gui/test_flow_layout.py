"""The flow layout works out its height once per width, and again when its items change.

A pass of the window's layout asks a height-for-width layout for its height dozens of
times, and the window is laid out again each time a label elsewhere changes size, which
is several times a second while a folder is indexed: the chat header's flow was worked
out about two times per indexed file.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QRect
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget
from pytestqt.qtbot import QtBot

from allma_desktop.gui.widgets.flow_layout import FlowLayout

WIDTH = 240


def labelled_flow(qtbot: QtBot, texts: list[str]) -> tuple[QWidget, FlowLayout, list[QLabel]]:
    """A window holding a flow of labels under a plain column, as the chat header does."""
    window = QWidget()
    qtbot.addWidget(window)
    column = QVBoxLayout(window)
    flow = FlowLayout(spacing=6)
    column.addLayout(flow)
    labels = [QLabel(text) for text in texts]
    for label in labels:
        flow.addWidget(label)
    window.resize(WIDTH, 300)
    window.show()
    qtbot.waitExposed(window)
    return window, flow, labels


def count_arrangements(flow: FlowLayout) -> list[int]:
    """How often the flow is worked out (the instance's own ``_arrange`` shadows the
    class's, so Qt's calls come through it too)."""
    calls: list[int] = []
    arrange = flow._arrange

    def counted(rect: QRect, *, move: bool) -> int:
        calls.append(rect.width())
        return arrange(rect, move=move)

    flow._arrange = counted  # type: ignore[method-assign]
    return calls


def line_height(flow: FlowLayout) -> int:
    return flow.heightForWidth(10_000)  # everything on one line


def test_repeated_questions_at_one_width_work_the_flow_out_once(qtbot: QtBot) -> None:
    _window, flow, _labels = labelled_flow(qtbot, ["alpha", "beta", "gamma", "delta"])
    calls = count_arrangements(flow)
    first = flow.heightForWidth(WIDTH)
    answers = [flow.heightForWidth(WIDTH) for _ in range(50)]
    assert answers == [first] * 50
    assert calls == [WIDTH]
    flow.heightForWidth(WIDTH // 2)
    assert calls == [WIDTH, WIDTH // 2]  # another width is its own question


def test_a_label_growing_is_seen_at_the_same_width(qtbot: QtBot) -> None:
    window, flow, labels = labelled_flow(qtbot, ["alpha", "beta"])
    one_line = flow.heightForWidth(WIDTH)
    assert one_line == line_height(flow)
    labels[1].setText("a label far too long to stay on the first line with alpha " * 2)
    qtbot.waitUntil(lambda: flow.heightForWidth(WIDTH) > one_line)
    # and placed on line two once the window lays itself out again
    qtbot.waitUntil(lambda: labels[1].geometry().top() > labels[0].geometry().top())
    assert window.isVisible()


def test_adding_and_removing_items_is_seen_at_the_same_width(qtbot: QtBot) -> None:
    _window, flow, _labels = labelled_flow(qtbot, ["alpha"])
    one_line = flow.heightForWidth(WIDTH)
    more: list[Any] = [QLabel(f"a wide label number {n}") for n in range(6)]
    for label in more:
        flow.addWidget(label)
    qtbot.waitUntil(lambda: all(label.isVisible() for label in more))  # Qt shows them later
    wrapped = flow.heightForWidth(WIDTH)
    assert wrapped > one_line
    while flow.count() > 1:
        item = flow.takeAt(flow.count() - 1)
        assert item is not None
        widget = item.widget()
        if widget is not None:
            widget.hide()
    assert flow.heightForWidth(WIDTH) == one_line


def test_a_hidden_item_gives_its_line_back(qtbot: QtBot) -> None:
    _window, flow, labels = labelled_flow(
        qtbot, ["alpha", "a label wide enough to need a second line of its own"]
    )
    wrapped = flow.heightForWidth(WIDTH)
    assert wrapped > line_height(flow)
    labels[1].hide()
    qtbot.waitUntil(lambda: flow.heightForWidth(WIDTH) < wrapped)
