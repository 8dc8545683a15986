"""Google Gemini through the `google-genai` SDK, shared by the stages that ask it something: the client and its
settings (`client`), the append-only answer cache (`store`), and concurrent requests with quota pauses, retries and
an audit, or the Batch API (`runner`). The caption backend (`captions.gemini`) and the `classify` stage use it."""
