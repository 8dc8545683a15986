"""The evaluate stage: probes, alignment and retrieval metrics of one run's embeddings, with their provenance."""
