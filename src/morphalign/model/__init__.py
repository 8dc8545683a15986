"""The SigLIP model, shared by every stage that runs it: loading (Hub id or folder), the tiny offline stand-in,
LoRA targeting and adapters, preprocessing, the towers' forward passes, and the sigmoid loss."""
