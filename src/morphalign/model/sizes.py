"""SigLIP-2 base's architecture built offline with random weights: for the benchmarks, the GPU check and size tests.

`google/siglip2-base-patch16-224` is a `SiglipModel` of two 12-layer, 768-wide towers (ViT-B/16 at 224 px; a text
tower over 64 tokens of a 256,000-word Gemma vocabulary): 375.2M parameters, of which the text tower's embedding
table holds 196.6M. Speed does not depend on the vocabulary (a lookup), memory does, so `vocab_size` can be cut for
quick timing and kept at 256,000 to measure memory honestly.
"""

from __future__ import annotations

import math

import torch

BASE_TOWER = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12}
BASE_VOCAB = 256_000  # SigLIP-2's Gemma tokenizer
BASE_PARAMETERS = 375_187_970  # with BASE_VOCAB, as the checkpoint
IMAGE_SIZE, PATCH_SIZE, MAX_LENGTH = 224, 16, 64


def base_config(vocab_size: int = BASE_VOCAB):
    """The `SiglipConfig` of SigLIP-2 base, with `vocab_size` text embedding rows."""
    from transformers import SiglipConfig

    return SiglipConfig(
        text_config=dict(**BASE_TOWER, vocab_size=vocab_size, max_position_embeddings=MAX_LENGTH),
        vision_config=dict(**BASE_TOWER, image_size=IMAGE_SIZE, patch_size=PATCH_SIZE),
    )


def build_base(vocab_size: int = BASE_VOCAB, seed: int = 0, device: str | torch.device = "cpu"):
    """A randomly initialised SigLIP-2 base on `device`, with SigLIP's initial logit scale (log 10) and bias (-10)."""
    from transformers import SiglipModel

    torch.manual_seed(seed)
    with torch.device(device):
        model = SiglipModel(base_config(vocab_size))
    with torch.no_grad():
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-10.0)
    return model


def flops_per_pair(trained: tuple[str, ...], image_tokens: int = (IMAGE_SIZE // PATCH_SIZE) ** 2) -> dict[str, float]:
    """Matrix-multiply FLOPs of one image-text pair through a training step, by the 2 x parameters x tokens rule.

    Per tower: a forward pass costs 2 x N x T (N the tower's matmul weights, T its tokens) plus attention's
    4 x T^2 x d per layer. Backward through a LoRA-adapted tower costs about one forward more: the activations'
    gradients, since the frozen weights get none and LoRA's rank-8 factors are negligible. A frozen tower whose
    output is cached costs nothing.
    """
    d, layers, mlp = BASE_TOWER["hidden_size"], BASE_TOWER["num_hidden_layers"], BASE_TOWER["intermediate_size"]
    per_layer = 4 * d * d + 2 * d * mlp  # q, k, v, out + fc1, fc2
    out = {}
    for tower, tokens in (("vision", image_tokens), ("text", MAX_LENGTH)):
        forward = 2 * per_layer * layers * tokens + 4 * tokens * tokens * d * layers
        out[tower] = forward * 2 if tower in trained else 0.0
    return out
