"""The one hub that broadcasts what changed, so each view decides whether to refresh.

A mutating operation emits one of these signals; it never pokes other widgets
directly (Anki's "operation reports what changed" model).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal


class AppEvents(QObject):
    documents_changed = Signal()
    conversations_changed = Signal()
    settings_changed = Signal(object)  # the new AppConfig
    health_changed = Signal(object)  # a HealthReport
    open_conversation = Signal(int)  # show that conversation in the main window
    ingest_requested = Signal(list)  # list[str] paths to index (drop, second launch, tray)
    engine_ready = Signal(object)  # the opened Orchestrator
    engine_failed = Signal(object)  # an AllmaError
    add_documents_requested = Signal()  # Ctrl+O: the library shows its file picker
