"""The pretrain stage: the embedded tiny SigLIP, built and trained offline on generic radio-sky scenes.

`scenes` draws the corpus (1-4 components per scene, templated paraphrased captions, no FR class); `loop` trains
every weight of the tiny model on it (logit scale and bias included) with the sigmoid loss, measures held-out
image-text retrieval against chance, and saves the model with `save_pretrained` plus its report.
"""
