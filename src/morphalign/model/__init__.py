"""The SigLIP model: loading (Hub id or folder), the tiny offline stand-in, LoRA targeting, preprocessing."""
