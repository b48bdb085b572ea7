"""The library's records: the SQLite database, collections, documents, conversations."""
