"""The train stage: LoRA fine-tuning of SigLIP with the sigmoid loss, through accelerate.

`launch` starts `python -m morphalign.train` under `accelerate launch` with one process per GPU; `loop` is the
training run, read top to bottom (set-up, resume, epochs, finish); `towers` holds the model wrapper, the frozen
tower's cached embeddings and the batch loss; `checkpoint` saves and resumes per-epoch state onto identical inputs.
"""
