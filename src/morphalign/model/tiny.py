"""A tiny SigLIP built entirely offline: the embedded default's base model (pretrained by `pretrain`) and the tests'.

It has the real checkpoint's classes and layout (a `SiglipModel`, a `GemmaTokenizer`, the SigLIP image processor,
a `SiglipProcessor` around both), so every code path that loads `google/siglip2-base-patch16-224` through
`AutoModel` / `AutoProcessor` loads this folder the same way. Only the sizes differ: a few layers, tens wide, a BPE
vocabulary of a few hundred tokens trained here on a small built-in corpus.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from morphalign.io import atomic_path

SPECIAL_TOKENS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]  # Gemma's ids 0..4, as in SigLIP-2

# Words a radio-galaxy caption is made of, so the tiny tokenizer splits captions into sensible pieces.
_CORPUS_TEXT = """
a an the of and or with without to from at in on into toward towards near between across its their this that
there is are be no one two three four five several many few some other others not only both each all
bright brighter brightest faint fainter diffuse compact extended elongated curved bent straight symmetric
asymmetric central centre center left right top bottom upper lower middle edge edges end ends side sides
flux centroid centroids source sources galaxy galaxies radio emission structure structures region regions
lobe lobes jet jets hotspot hotspots core cores plume plumes tail tails bridge point unresolved resolved
associated unassociated located lies sits extend extends extending originate originates originating ending
terminate terminates fade fades fading bend bends glowing glow glows shape blob streak speck specks dark
black background image picture field space sky object objects light blurry grainy fuzzy softly distant
astronomical celestial cosmic star stars nebula spiral double pair twin pattern elongation orientation
degrees north south east west northeast northwest southeast southwest horizontal vertical diagonal
approximately roughly about appears appear seems shows show showing visible observed detected
we see it has they together cover covers spans span area component components separate containing contains
spot spots point-like patch patches cloud clouds haze broad oval stretched ridge arc arcs arc-shaped curving
two-sided aligned oriented running tiny small medium-sized large huge wide narrow long short thin thick
knot knots blobs clump clumps ring shell halo fan tail smudge wisp wisps filament filaments beyond
single lone isolated pair pairs chain trail line lines outward inward outer inner opposite symmetric
centered centred off-centre off-center frame corner corners half across along over under above below
dominant dominates strongest weakest weaker stronger equal similar unequal mostly partly nearly
out runs stand stands pixels pixel close within axis present peak peaks peaking nothing else unrelated surrounding
empty monochrome featuring black-and-white band noisy telescope clear tip tips around dots scattered nearby reach
most strongly off than far distance like dumbbell dim dimmer dims emerge emerges become brilliant concentrated wispy
extension extensions hot throughout fairly even evenly brightness heart soft trailing smooth uniform crooked arched
bow-shaped rather main also linear feature features rising falling
"""
_CORPUS = _CORPUS_TEXT.split()


@dataclass(frozen=True)
class TinySpec:
    """Sizes of the tiny model; the defaults are the embedded default's, pretrained in minutes on two CPU cores."""

    hidden_size: int = 64
    # an MLP twice as wide as the model, not SigLIP's four times: a pretraining step costs 0.75x (215 against 285 ms,
    # batch 64, one thread), the default runs in 0.75x the time, and the pretraining reached the same held-out
    # retrieval; this budget is compute-bound, not capacity-bound (README, "Benchmarks")
    intermediate_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    image_size: int = 64  # radio cut-outs are sparse: 64 px with 8 px patches keeps compact sources visible
    patch_size: int = 8
    max_length: int = 64  # SigLIP-2's text length
    vocab_size: int = 800  # enough for a 40-word caption to take about 50 tokens, as with the real vocabulary
    seed: int = 0


def build_tokenizer(vocab_size: int):
    """Train a small BPE on the built-in corpus and wrap it as the Gemma tokenizer SigLIP-2 uses.

    Training splits at word boundaries (Gemma marks a space as "▁" before the word), so frequent words become single
    tokens and a 50-word caption takes roughly as many tokens as with the real 256k vocabulary.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    from transformers import GemmaTokenizer

    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Split("▁", behavior="merged_with_next")
    alphabet = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?-()'\"/%+▁")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet, show_progress=False
    )
    sentences = [" ".join(_CORPUS[i : i + 12]) for i in range(0, len(_CORPUS), 3)]
    trainer_tok.train_from_iterator(sentences * 4, trainer)
    state = json.loads(trainer_tok.to_str())
    vocab = state["model"]["vocab"]
    merges = [tuple(m) for m in state["model"]["merges"]]
    # SigLIP's text tower pools the last position and was trained on right-padded ids
    return GemmaTokenizer(vocab=vocab, merges=merges, padding_side="right", model_max_length=64)


def siglip_image_processor(size: int):
    """SigLIP-2's image processor at `size` px: bilinear resize, pixels scaled to [-1, 1]."""
    from transformers.models.siglip import SiglipImageProcessorPil

    return SiglipImageProcessorPil(
        size={"height": size, "width": size},
        resample=2,  # bilinear, as SigLIP-2
        do_rescale=True,
        rescale_factor=1 / 255,
        do_normalize=True,
        image_mean=[0.5] * 3,
        image_std=[0.5] * 3,
    )


def build_tiny(spec: TinySpec = TinySpec()):
    """Return (model, processor) for a freshly initialised tiny SigLIP."""
    from transformers import SiglipConfig, SiglipModel, SiglipProcessor, SiglipTextConfig, SiglipVisionConfig

    tokenizer = build_tokenizer(spec.vocab_size)
    common = dict(
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_layers,
        num_attention_heads=spec.num_heads,
    )
    text = SiglipTextConfig(
        **common,
        vocab_size=len(tokenizer),
        max_position_embeddings=spec.max_length,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    vision = SiglipVisionConfig(**common, image_size=spec.image_size, patch_size=spec.patch_size)
    config = SiglipConfig(text_config=text.to_dict(), vision_config=vision.to_dict())
    torch.manual_seed(spec.seed)
    model = SiglipModel(config)
    with torch.no_grad():  # SigLIP's initial temperature and bias (Zhai et al. 2023): t' = log 10, b = -10
        model.logit_scale.fill_(math.log(10.0))
        model.logit_bias.fill_(-10.0)
    image_processor = siglip_image_processor(spec.image_size)
    processor = SiglipProcessor(image_processor=image_processor, tokenizer=tokenizer)
    return model, processor


def write_tiny(folder: str | Path, spec: TinySpec = TinySpec()) -> Path:
    """Build the tiny model and save it (model, tokenizer, processor, spec) to `folder`, atomically."""
    model, processor = build_tiny(spec)
    with atomic_path(folder, directory=True) as tmp:
        model.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        (tmp / "tiny_spec.json").write_text(json.dumps(asdict(spec), indent=2) + "\n")
    return Path(folder)
