"""Allma Desktop: a local-first knowledge base that answers from your documents."""

__version__ = "0.1.0"
