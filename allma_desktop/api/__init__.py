"""The local HTTP API: the seed's REST endpoints and an OpenAI-compatible door.

A thin adapter over the orchestrator (the same one the CLI and the GUI use); it
holds no retrieval, chat or ingest logic of its own.
"""
