"""The built-in reader: pages drawn by PyMuPDF and opening the user's own viewer.

Qt-free, beside the orchestrator rather than behind it (as the indexer is): it reads
files, never the library, so the GUI's reader controller uses it directly. What a
citation points at (the chunk, its page and span) comes from the orchestrator.
"""
