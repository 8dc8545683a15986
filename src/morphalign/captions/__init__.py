"""Captioning: backends that write a caption per image under a named prompt, and the stage that runs them."""
