"""Retrieval and prompting: search, reranking, context assembly, the answer check."""
