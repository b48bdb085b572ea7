"""A conversation as a Markdown file a person can keep, share or print.

Each message carries its role and time; an answer keeps its sources as a numbered
list (file, page, section, the passage quoted) and its thinking folded in a ``<details>``
block, so the text reads cleanly and nothing is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from allma_desktop import __version__
from allma_desktop.records import (
    ConversationRecord,
    GroundingReport,
    MessageRecord,
    whole_documents_note,
)
from allma_desktop.services.library.conversations import ConversationService
from allma_desktop.sources import Source

ROLE_NAMES = {"user": "You", "assistant": "Allma", "system": "System"}
STATUS_NOTES = {
    "interrupted": "This answer was interrupted; what had arrived is kept.",
    "streaming": "This answer was still being written when the chat was exported.",
    "failed": "This answer failed.",
}


def export_conversation(conversations: ConversationService, conversation_id: int) -> str:
    """The conversation as Markdown; raises ``NotFound`` for an unknown id."""
    conversation = conversations.get(conversation_id)
    return conversation_markdown(conversation, conversations.messages(conversation_id))


def conversation_markdown(
    conversation: ConversationRecord,
    messages: Sequence[MessageRecord],
    exported_at: datetime | None = None,
) -> str:
    moment = exported_at or datetime.now(UTC)
    lines = [
        f"# {_one_line(conversation.title)}",
        "",
        f"*Exported from Allma Desktop {__version__} on {_time(moment)}.*",
        "",
    ]
    for message in messages:
        lines += _message_lines(message)
    return "\n".join(lines).rstrip() + "\n"


def _message_lines(message: MessageRecord) -> list[str]:
    role = ROLE_NAMES.get(message.role, message.role.title())
    model = f" ({message.model})" if message.role == "assistant" and message.model else ""
    lines = [f"## {role}{model} · {_time(message.created_at)}", ""]
    if message.thinking.strip():
        lines += [
            "<details>",
            "<summary>Thinking</summary>",
            "",
            message.thinking.strip(),
            "",
            "</details>",
            "",
        ]
    if message.content.strip():
        lines += [message.content.strip(), ""]
    note = STATUS_NOTES.get(message.status)
    if note:
        error = f" ({message.error})" if message.error else ""
        lines += [f"*{note}{error}*", ""]
    if message.whole_documents:
        lines += [
            f"*{_escape(whole_documents_note(message.whole_documents, message.summary_parts))}*",
            "",
        ]
    if message.sources:
        lines += ["**Sources**", ""]
        for source in message.sources:
            lines += _source_lines(source)
        lines.append("")
    if message.grounding is not None and message.grounding.checked:
        lines += _grounding_lines(message.grounding)
    return lines


def _grounding_lines(report: GroundingReport) -> list[str]:
    """The check against the sources: the summary, then each sentence they do not support."""
    lines = [f"*Checked: {report.summary}.*", ""]
    for sentence in report.unsupported:
        lines += [f"- ⚠ “{_one_line(sentence.text)}” — {sentence.note}"]
    if report.unsupported:
        lines.append("")
    return lines


def _source_lines(source: Source) -> list[str]:
    name = Path(source.path).name or source.title
    where = f", page {source.page}" if source.page is not None else ""
    if source.section:
        where += f", section “{_escape(_one_line(source.section))}”"
    item = [f"{source.number}. **{_escape(name)}**{where}"]
    snippet = _one_line(source.snippet)
    if snippet:
        item.append(f"   > {snippet}")
    return item


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _escape(text: str) -> str:
    """File names with ``*`` or ``_`` would otherwise turn bold or italic."""
    for character in "\\*_`[]":
        text = text.replace(character, "\\" + character)
    return text
