"""library_counts: one definition of "N documents", and one way of saying it."""

from __future__ import annotations

from allma_desktop.library_counts import DocumentCounts, count_documents, kind_of


def test_cancelled_files_are_cancelled_whether_stored_or_shown() -> None:
    assert kind_of("failed", "cancelled") == "cancelled"
    assert kind_of("cancelled") == "cancelled"  # a library row's status
    assert kind_of("failed", "damaged file") == "failed"
    assert kind_of("failed", None) == "failed"


def test_offline_documents_are_still_documents_with_their_passages() -> None:
    counts = count_documents(
        [("ready", None, 2, 30), ("offline", None, 1, 5), ("queued", None, 4, 0)]
    )

    assert counts == DocumentCounts(documents=3, passages=35, offline=1)
    assert counts.summary() == "3 documents · 35 passages · 1 offline"


def test_failed_files_chunks_are_not_passages() -> None:
    counts = count_documents([("ready", None, 1, 1), ("failed", "broken", 1, 12)])

    assert counts.summary() == "1 document · 1 passage · 1 could not be read"


def test_an_empty_library_says_no_passages() -> None:
    assert count_documents([]).summary() == "0 documents"
    assert count_documents([("failed", "cancelled", 2, 0)]).summary() == (
        "0 documents · 2 cancelled"
    )
