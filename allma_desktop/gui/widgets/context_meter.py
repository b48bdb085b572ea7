"""The chat options' token meter: how much of the model's context the documents take whole."""

from __future__ import annotations

import html

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from allma_desktop.records import ContextFit


def short_tokens(count: int) -> str:
    """``850``, ``3.2k``, ``41k``, ``1.2M``: a count of tokens for a narrow label."""
    if count < 1000:
        return str(count)
    if count < 10_000:
        return f"{count / 1000:.1f}k"
    if count < 999_500:
        return f"{round(count / 1000)}k"
    return f"{count / 1_000_000:.1f}M"


def meter_text(fit: ContextFit) -> str:
    about = "" if fit.exact else "~"
    return f"{about}{short_tokens(fit.tokens)} / {short_tokens(fit.room)} tokens"


def meter_tooltip(fit: ContextFit, model: str) -> str:
    """What the meter means, and what the chat does with documents of this size."""
    about = "about" if fit.exact else "roughly"
    one = fit.documents == 1
    they, them, their = ("It", "it", "its") if one else ("They", "them", "their")
    fit_s, does, are = ("fits", "does", "is") if one else ("fit", "do", "are")
    count = "document takes" if one else f"{fit.documents} documents take"
    lines = [
        f"Read whole, the {count} {about} {fit.tokens:,} tokens of the {fit.room:,} "
        f"that {model}'s context of {fit.context_tokens:,} leaves {them} (after the "
        "instructions, this conversation and room for the answer)."
    ]
    if fit.fits:
        lines.append(f"{they} {fit_s}: Whole document gives {them} to the model, page by page.")
        if fit.small_model:
            lines.append("Auto gives this small model the best passages all the same.")
        else:
            lines.append(f"Auto does too when a question matches {them}.")
    elif fit.summarisable:
        lines.append(
            f"{they} {does} not fit. A question that asks for a summary is answered from "
            f"summaries of {their} parts, about {fit.summary_requests} (map, then reduce), "
            "citing pages; other questions get the best passages."
        )
    else:
        lines.append(
            f"{they} {does} not fit, and {are} too long to summarise in parts with this "
            f"context (about {fit.summary_requests} summaries; at most {fit.summary_limit}): "
            "the chat answers from the best passages. Choose one document, or a model with "
            "a longer context."
        )
    # Rich text, so the tooltip wraps to a readable width.
    return "".join(f"<p>{html.escape(line, quote=False)}</p>" for line in lines)


class ContextMeter(QWidget):
    """A thin bar and a count: the documents' tokens over the room the context leaves them.

    Full and marked ``over`` when they do not fit; hidden when there is nothing to measure.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("contextMeter")
        self.setAccessibleName("How much of the model's context the documents take")
        self.bar = QProgressBar(self)
        self.bar.setObjectName("contextMeterBar")
        self.bar.setRange(0, 100)
        self.bar.setTextVisible(False)
        self.bar.setFixedSize(64, 6)
        self.label = QLabel(self)
        self.label.setObjectName("contextMeterText")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 4, 0)
        row.setSpacing(6)
        row.addWidget(self.bar)
        row.addWidget(self.label)
        self.fit: ContextFit | None = None
        self.hide()

    def show_fit(self, fit: ContextFit | None, model: str = "the model") -> None:
        self.fit = fit
        if fit is None or fit.documents == 0:
            self.hide()
            return
        over = not fit.fits
        self.bar.setValue(100 if over else min(100, round(100 * fit.share)))
        self.bar.setProperty("over", over)
        self.label.setProperty("over", over)
        for widget in (self.bar, self.label):
            widget.style().unpolish(widget)
            widget.style().polish(widget)
        self.label.setText(meter_text(fit))
        self.setToolTip(meter_tooltip(fit, model))
        self.show()
