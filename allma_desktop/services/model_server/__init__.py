"""Talking to model servers: Ollama's REST protocol and OpenAI-compatible servers."""
