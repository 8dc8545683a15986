"""The tiny model, loading, and preprocessing parity with the real processor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoProcessor, SiglipModel

from morphalign.errors import MorphalignError
from morphalign.model.load import check_model_source, is_hub_id, load_model, load_processor
from morphalign.model.preprocess import PixelSpec, pixel_values, resize_images, tokenize


def test_tiny_reloads_as_the_real_classes(tiny_model_dir):
    model = AutoModel.from_pretrained(tiny_model_dir)
    proc = AutoProcessor.from_pretrained(tiny_model_dir)
    assert isinstance(model, SiglipModel)
    assert type(proc).__name__ == "SiglipProcessor"
    assert type(proc.tokenizer).__name__ == "GemmaTokenizer"
    assert float(model.logit_bias.detach()) == -10.0


def test_tiny_is_deterministic(tmp_path):
    from morphalign.model.tiny import TinySpec, build_tiny

    a, _ = build_tiny(TinySpec(image_size=32, patch_size=8))
    b, _ = build_tiny(TinySpec(image_size=32, patch_size=8))
    for (na, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), na


@pytest.mark.parametrize("normalize", [True, False])
def test_cached_pixels_match_the_processor_exactly(tiny_model_dir, normalize):
    proc = load_processor(str(tiny_model_dir))
    spec = PixelSpec.from_processor(proc)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 150, 150), dtype=np.uint8)
    ours = pixel_values(resize_images(images, spec), spec, normalize=normalize)
    rgb = [np.repeat(img[:, :, None], 3, axis=2) for img in images]
    ref = proc.image_processor(rgb, do_normalize=normalize, return_tensors="pt")["pixel_values"]
    assert ours.shape == ref.shape == (3, 3, 32, 32)
    assert torch.allclose(ours, ref.float(), atol=1e-6)
    lo, hi = (-1.0, 1.0) if normalize else (0.0, 1.0)
    assert ours.min() >= lo and ours.max() <= hi


def test_tokenize_lowercases_pads_and_counts_truncation(tiny_model_dir):
    tok = load_processor(str(tiny_model_dir)).tokenizer
    long = " ".join(["bright lobes"] * 60)
    t = tokenize(["Two Bright LOBES", "two bright lobes", long], tok, max_length=64)
    assert t.input_ids.shape == (3, 64)
    assert np.array_equal(t.input_ids[0], t.input_ids[1])  # lowercased
    assert t.truncated.tolist() == [False, False, True]
    assert t.input_ids[0, -1] == tok.pad_token_id  # padded to max_length
    t2 = tokenize(["Two Bright LOBES"], tok, lowercase=False)
    assert not np.array_equal(t2.input_ids[0], t.input_ids[0])


def test_hub_ids_and_folders(tmp_path):
    assert is_hub_id("google/siglip2-base-patch16-224")
    assert not is_hub_id("./models/x") and not is_hub_id("resources/models/tiny-siglip")
    with pytest.raises(MorphalignError, match=r"model folder '.*missing' does not exist"):
        check_model_source(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(MorphalignError, match=r"no config\.json"):
        load_model(str(tmp_path / "empty"))


def test_hub_id_offline_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MorphalignError, match="cannot load 'google/siglip2-base-patch16-224'"):
        load_model("google/siglip2-base-patch16-224", cache_dir=str(tmp_path))


def test_schema_tiny_defaults_are_the_tiny_spec_defaults():
    """`model.tiny`'s defaults in the schema and `TinySpec`'s are one model: a default changed in one place only
    would build another model from the config than from `build_tiny()`."""
    import yaml

    from conftest import SCHEMA
    from morphalign.model.tiny import TinySpec

    schema = yaml.safe_load(SCHEMA.read_text())["properties"]["model"]["properties"]["tiny"]["properties"]
    spec = TinySpec()
    assert schema, "no model.tiny properties in the schema"
    for name, prop in schema.items():
        assert prop["default"] == getattr(spec, name), name
