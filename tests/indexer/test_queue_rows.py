"""The indexer's durable queue in the library's database: order, no duplicates, odd names."""

from __future__ import annotations

from pathlib import Path

from allma_desktop.indexer.state import IndexerState
from allma_desktop.services.library.storage import Collection, open_database


def _state(tmp_path: Path) -> IndexerState:
    db = open_database(tmp_path / "allma.sqlite3")
    Collection.get_or_create(id=1, defaults={"name": "Library"})
    return IndexerState(db)


def test_files_are_queued_in_order_and_one_already_queued_keeps_its_place(tmp_path: Path) -> None:
    state = _state(tmp_path)

    first = state.enqueue(1, ["/docs/a.txt", "/docs/b.txt"])
    again = state.enqueue(1, ["/docs/b.txt", "/docs/c.txt"])

    assert [i.path for i in first] == ["/docs/a.txt", "/docs/b.txt"]
    assert [i.path for i in again] == ["/docs/c.txt"]  # b was queued already
    assert [i.path for i in state.queued()] == ["/docs/a.txt", "/docs/b.txt", "/docs/c.txt"]
    assert [i.id for i in state.queued()] == sorted(i.id for i in state.queued())
    assert {i.id for i in first + again} == {i.id for i in state.queued()}


def test_force_on_a_file_already_queued_sticks(tmp_path: Path) -> None:
    state = _state(tmp_path)
    state.enqueue(1, ["/docs/a.txt"])

    state.enqueue(1, ["/docs/a.txt"], force=True)

    (item,) = state.queued()
    assert item.force


def test_a_name_that_is_not_valid_utf8_and_a_large_batch_are_queued_whole(tmp_path: Path) -> None:
    state = _state(tmp_path)
    odd = "/docs/caf\udce9.txt"  # a Latin-1 file name as the file system gives it
    many = [f"/docs/many/{n:05d}.txt" for n in range(1_500)]

    added = state.enqueue(1, [odd, *many])

    assert len(added) == 1_501
    assert state.queued()[0].path == odd
    assert [i.path for i in state.queued()[1:]] == many
