"""The cache stage: images resized once per dataset and model resolution, captions tokenised once per prompt."""
