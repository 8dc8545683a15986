"""The `classify` stage: a generative VLM (Gemini) asked for the class of each test image, zero-shot or k-shot."""
