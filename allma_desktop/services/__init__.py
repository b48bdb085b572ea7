"""Qt-free services: documents, Ollama, vector store, RAG and conversations."""
