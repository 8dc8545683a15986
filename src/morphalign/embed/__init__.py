"""The embed stage: a run's image and caption embeddings (base model plus the run's adapter), for evaluation."""
