"""Gemini captioning through google-genai: the client settings, the cached store, the request runner, the backend."""
