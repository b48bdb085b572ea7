"""A second engine on the same library must not "repair" the first one's work in progress."""

from __future__ import annotations

from allma_desktop.config import AppConfig
from allma_desktop.orchestrator import Orchestrator


async def test_second_engine_leaves_a_document_being_indexed_alone(
    orchestrator: Orchestrator, config: AppConfig
) -> None:
    collection = orchestrator.collection(None)
    busy = orchestrator.library.start_document(collection.id, "/tmp/being-indexed.pdf")
    second = Orchestrator(config)
    await second.open()
    try:
        assert second.library.get_document(busy.id).status == "indexing"
    finally:
        await second.close()


async def test_a_lone_start_repairs_what_a_crash_left_half_indexed(config: AppConfig) -> None:
    first = Orchestrator(config)
    await first.open()
    collection = first.collection(None)
    crashed = first.library.start_document(collection.id, "/tmp/crashed.pdf")
    await first.close()

    again = Orchestrator(config)
    await again.open()
    try:
        assert again.library.get_document(crashed.id).status == "failed"
    finally:
        await again.close()
