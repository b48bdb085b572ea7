"""Documents too long for the context, summarised in parts (summaries.py): the pieces."""

from __future__ import annotations

import pytest

from allma_desktop.services.retrieval.summaries import (
    MAX_SUMMARY_REQUESTS,
    SUMMARY_PART_INSTRUCTIONS,
    Block,
    answer_messages,
    fits,
    is_summary_question,
    part_messages,
    parts,
    regrouped,
    requests_needed,
)
from allma_desktop.sources import Source


def page(number: int, text: str = "", path: str = "/docs/harbour.pdf") -> Block:
    source = Source(
        number=number,
        document_id="harbour",
        chunk_id=f"harbour:{number}",
        path=path,
        title="Harbour",
        page=number,
        score=1.0,
        snippet="",
    )
    return Block(source, text or f"Page {number} says the basin on quay {number} is deep. " * 8)


@pytest.mark.parametrize(
    "question",
    [
        "Summarise this",
        "Can you summarize chapter 3 of the guidelines?",
        "Give me an overview of the report",
        "What are the key points?",
        "tl;dr",
        "Fasse das Dokument zusammen (Zusammenfassung)",
        "Fais un résumé du document",
    ],
)
def test_a_question_that_asks_for_a_summary_is_told(question: str) -> None:
    assert is_summary_question(question)


@pytest.mark.parametrize(
    "question", ["How deep is the harbour basin?", "Who signed the summary judgment order"]
)
def test_other_questions_are_not_summaries(question: str) -> None:
    # "summary judgment" is a term of law, but the question asks who, not for a summary:
    # a false positive costs a few requests, not a wrong answer; the second is one.
    assert is_summary_question(question) is ("summary" in question)


def test_pages_are_cut_in_order_into_parts_that_each_fit() -> None:
    blocks = [page(n) for n in range(1, 11)]
    room = 3 * blocks[0].tokens
    cut = parts(blocks, room)
    assert [[b.source.number for b in part] for part in cut] == [
        [1, 2, 3],
        [4, 5, 6],
        [7, 8, 9],
        [10],
    ]
    assert all(fits(part, room) for part in cut)


def test_a_page_longer_than_a_part_is_cut_to_fit() -> None:
    long_page = page(1, "The basin is deep. " * 400)
    (only,) = parts([long_page], 200)
    assert len(only) == 1 and only[0].source == long_page.source
    assert fits(only, 200) and long_page.text.startswith(only[0].text)


def test_a_parts_summary_is_regrouped_by_the_page_each_sentence_cites() -> None:
    first, second = [page(1), page(2), page(3)], [page(4), page(5)]
    summaries = [
        (first, "Quay 3 is dredged to 9 metres [3]. Pilots log the tides [1]. No citation here."),
        (second, "Moorings are checked weekly [5, 4]. A page it never had [9]."),
    ]
    blocks = regrouped(summaries)
    assert [(b.source.number, b.text) for b in blocks] == [
        (1, "Pilots log the tides. No citation here."),  # uncited: the part's first page
        (3, "Quay 3 is dredged to 9 metres."),
        (4, "A page it never had."),  # a number not in the part: the part's first page
        (5, "Moorings are checked weekly."),
    ]


def test_the_requests_a_summary_takes_count_the_map_and_the_reduce() -> None:
    assert requests_needed(5_000, 7_000, 6_000) == 0  # fits: nothing to summarise
    assert requests_needed(6_500, 7_000, 6_000) == 1  # one part, though the answer's room is less
    assert requests_needed(20_000, 7_000, 6_000) == 3  # three parts, whose summaries then fit
    # Twelve parts, whose summaries (a quarter of a part each) do not fit one request:
    # a second round summarises them in three.
    assert requests_needed(12 * 2_000, 2_000, 1_800) == 12 + 3
    assert requests_needed(1_000_000, 4_000, 3_000) > MAX_SUMMARY_REQUESTS
    assert requests_needed(10, 0, 0) > MAX_SUMMARY_REQUESTS  # no room at all
    # Summaries that come out no shorter than their parts would never get there.
    assert requests_needed(5_000, 8, 4) > MAX_SUMMARY_REQUESTS


def test_a_part_is_asked_with_its_pages_numbered_and_the_question() -> None:
    messages = part_messages([page(4, "Quay 4 is deep."), page(5, "Quay 5 is shallow.")], "Sum up")
    assert messages[0].content == SUMMARY_PART_INSTRUCTIONS
    assert messages[1].content == (
        "Documents, page by page:\n\n[4] (harbour.pdf, page 4)\nQuay 4 is deep.\n\n"
        "[5] (harbour.pdf, page 5)\nQuay 5 is shallow.\n\nQuestion: Sum up"
    )


def test_the_answer_is_asked_from_the_summaries_after_the_conversation() -> None:
    messages = answer_messages(
        [page(3, "Quay 3 is dredged.")], "Summarise it", [("user", "hi"), ("assistant", "hello")]
    )
    assert [m.role for m in messages] == ["system", "user", "assistant", "user"]
    assert "summarised in parts" in messages[0].content
    assert messages[-1].content.startswith("Summaries, page by page:\n\n[3] (harbour.pdf, page 3)")
    assert messages[-1].content.endswith("Question: Summarise it")
