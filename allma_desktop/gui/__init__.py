"""The PySide6 desktop app: a thin Qt layer over the orchestrator.

Widgets talk to controllers (``gui/controllers``), controllers to the orchestrator,
and results come back as Qt signals. Nothing here is imported by the engine.
"""
