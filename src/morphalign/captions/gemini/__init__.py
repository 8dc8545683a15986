"""The Gemini caption backend; the client, cache and request runner it uses live in `morphalign.gemini`."""
