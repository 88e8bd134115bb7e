"""Performance paths give the unoptimised results: SDPA blocks, length buckets, the shipped step.

Every speed-up of issue 7 must leave features, losses and gradients as they were (to float32
rounding): SDPA towers vs LAVIS's MultiheadAttention blocks, length-bucketed text vs the padded
77-token path, and a whole training forward/backward of the shipped configuration vs the
unoptimised one (full-context text, LAVIS attention, invalid negatives encoded) on a fixed batch.
Also: the chunk planner on planted lengths, the two config keys, the compile wiring, and a smoke
run of perf/step.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from ahnpl_plugin import compat

compat.apply()

from lavis.models.clip_models.model import CLIP  # noqa: E402
from lavis.models.clip_models.tokenizer import tokenize as lavis_tokenize  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from ahnpl_plugin.errors import ConfigError  # noqa: E402
from ahnpl_plugin.models.clip import towers as text_encoding  # noqa: E402
from ahnpl_plugin.models.clip.towers import TextEncoder, encode_images, length_chunks  # noqa: E402
from ahnpl_plugin.models.clip.tokenizer import tokenize  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
from helpers.batches import CAPTIONS, MASK, NEGATIVES, TYPES  # noqa: E402
from helpers.models import tiny_clip  # noqa: E402
# Lengths 2 to 43 tokens, id 0 ("!~") before an end-of-text token, and a caption cut at 77 tokens
# (no end-of-text left: LAVIS pools its position 0, the start token; the fast paths must too).
TEXTS = CAPTIONS + ["a !~ b", "a", "a dog " * 20, "the cat sat on the mat " * 20, "two red balls"]


def close(actual, expected, rel=1e-5):
    """Max abs difference within ``rel`` of the largest magnitude (float32 rounding, any scale)."""
    return float((actual - expected).abs().max()) <= rel * float(expected.abs().max()) + 1e-12


def small_clip(width=128, heads=2, layers=2):
    """A 77-token CLIP with multi-head towers (vision heads = width // 64 = 2), eval mode."""
    torch.manual_seed(3)
    clip = CLIP(embed_dim=64, vision_cfg=dict(image_size=32, layers=layers, width=width, patch_size=8),
                text_cfg=dict(context_length=77, vocab_size=49408, width=width, heads=heads, layers=layers))
    return clip.eval()


def tiny_model(**overrides):
    return tiny_clip(**overrides)


def batch():
    return {
        "image": torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)),
        "text_input": list(CAPTIONS),
        "hard_negatives": [list(row) for row in NEGATIVES],
        "hard_negative_mask": MASK.clone(),
    }


# ------------------------------------------------------------------------------------------------
# Towers
# ------------------------------------------------------------------------------------------------


def test_sdpa_towers_give_lavis_features_and_gradients():
    clip = small_clip()
    tokens = lavis_tokenize(TEXTS, context_length=77)
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    weights = torch.randn(len(TEXTS) + 3, 64, generator=torch.Generator().manual_seed(2))

    def features_and_grads(sdpa):
        clip.zero_grad(set_to_none=True)
        text = TextEncoder(clip, length="full", sdpa=sdpa)(tokens) if sdpa else clip.encode_text(tokens)
        image = encode_images(clip, images, sdpa=sdpa) if sdpa else clip.encode_image(images)
        out = torch.cat([text, image])
        (out * weights).sum().backward()
        return out.detach(), {n: p.grad.clone() for n, p in clip.named_parameters() if p.grad is not None}

    lavis_out, lavis_grads = features_and_grads(False)
    sdpa_out, sdpa_grads = features_and_grads(True)
    assert torch.allclose(sdpa_out, lavis_out, atol=1e-5, rtol=0)
    assert sdpa_grads.keys() == lavis_grads.keys() and len(sdpa_grads) > 20
    for name, grad in lavis_grads.items():
        assert close(sdpa_grads[name], grad), name


def test_resnet_tower_runs_as_lavis_whatever_sdpa_says():
    clip = small_clip()
    calls = []
    clip.encode_image = lambda images: calls.append(images.shape) or torch.zeros(len(images), 64)
    del clip.visual.conv1  # no longer a ViT: encode_images must hand over to the CLIP's own path
    encode_images(clip, torch.zeros(2, 3, 32, 32), sdpa=True)
    assert calls == [torch.Size([2, 3, 32, 32])]


@pytest.mark.parametrize("length, sdpa", [("buckets", True), ("buckets", False), ("longest", True), ("full", True)])
def test_every_length_policy_gives_the_77_token_features(length, sdpa):
    clip = small_clip()
    tokens = lavis_tokenize(TEXTS, context_length=77)
    assert tokens[4, 2] == 0 and int(tokens[4].argmax()) == 5  # id 0 before the end-of-text token
    assert int(tokens[7].argmax()) == 0 and tokens[7, 76] != 0  # cut at the context: no end-of-text, LAVIS pools 0
    encoder = TextEncoder(clip, length=length, sdpa=sdpa, max_chunks=3, chunk_overhead=0)
    plan = encoder.chunks(tokens)
    assert len(plan) == (3 if length == "buckets" else 1)
    with torch.no_grad():
        full = F.normalize(clip.encode_text(tokens), dim=-1)
        fast = F.normalize(encoder(tokens), dim=-1)
    assert torch.allclose(fast, full, atol=1e-5, rtol=0)


def test_buckets_keep_row_order_and_gradients():
    clip = small_clip()
    tokens = lavis_tokenize(TEXTS, context_length=77)
    weights = torch.randn(len(TEXTS), 64, generator=torch.Generator().manual_seed(5))
    grads = []
    for encoder in (TextEncoder(clip, length="buckets", max_chunks=4, chunk_overhead=0), TextEncoder(clip, length="full", sdpa=False)):
        clip.zero_grad(set_to_none=True)
        (encoder(tokens) * weights).sum().backward()
        grads.append(clip.token_embedding.weight.grad.clone())
    assert close(grads[0], grads[1])


def test_length_chunks_on_planted_lengths():
    # Four 5-token rows and one 20-token row: one chunk costs 5*20 + overhead, two cost 4*5 + 20 + 2*overhead.
    assert length_chunks([5, 20, 5, 5, 5], max_chunks=2, overhead=10) == [([0, 2, 3, 4], 5), ([1], 20)]
    assert length_chunks([5, 20, 5, 5, 5], max_chunks=2, overhead=100) == [([0, 2, 3, 4, 1], 20)]
    assert length_chunks([5, 20, 5, 5, 5], max_chunks=1, overhead=0) == [([0, 2, 3, 4, 1], 20)]
    # Three levels, at most two chunks: the cut goes where it saves most (between 9 and 30).
    assert length_chunks([30, 8, 9, 8], max_chunks=2, overhead=0) == [([1, 3, 2], 9), ([0], 30)]
    assert length_chunks([7, 7, 7], max_chunks=4, overhead=0) == [([0, 1, 2], 7)]
    assert length_chunks([], max_chunks=4) == []


def test_text_encoder_rejects_unknown_length_policy():
    with pytest.raises(ValueError, match="text length policy 'short'.*buckets, longest, full"):
        TextEncoder(small_clip(), length="short")


def test_tokenizer_fill_matches_lavis_on_mixed_lengths():
    """LAVIS's ids row by row, except that a truncated row ends in EOT (open_clip's truncation)."""
    for context in (77, 16):
        ours, lavis = tokenize(TEXTS, context), lavis_tokenize(TEXTS, context_length=context)
        cut = lavis[:, -1] != 0  # rows LAVIS filled to the end: cut, or exactly the context long
        assert torch.equal(ours[~cut], lavis[~cut])
        assert torch.equal(ours[cut, :-1], lavis[cut, :-1])
        assert bool((ours[cut, -1] == 49407).all())  # <end_of_text>
    assert bool((lavis_tokenize(TEXTS, context_length=16)[:, -1] != 0).any())  # some rows were cut
    assert tokenize([], 77).shape == (0, 77)


# ------------------------------------------------------------------------------------------------
# The shipped training step vs the unoptimised one
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["ahnpl", "reference"])
def test_shipped_step_gives_the_unoptimised_losses_and_gradients(monkeypatch, mode):
    monkeypatch.setitem(text_encoding.CHUNK_OVERHEAD_TOKENS, "cpu", 0)  # several chunks even for 24 texts
    slow = tiny_model(**{"loss.mode": mode, "sdpa": False, "text_length": "full"})
    slow.encode_all_negatives = True
    fast = tiny_model(**{"loss.mode": mode})
    fast.load_state_dict(slow.state_dict())
    assert (fast.sdpa, fast.text_length, slow.sdpa, slow.text_length) == (True, "buckets", False, "full")
    tokens = fast.tokenize(CAPTIONS + [t for row, m in zip(NEGATIVES, MASK.tolist()) for t, ok in zip(row, m) if ok])
    assert len(fast.text_encoder().chunks(tokens)) > 1
    outputs, grads = [], []
    for model in (slow, fast):
        out = model(batch())
        out["loss"].backward()
        outputs.append({k: v.detach() for k, v in out.items()})
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert outputs[0].keys() == outputs[1].keys()
    for key, value in outputs[0].items():
        assert torch.allclose(outputs[1][key], value, rtol=1e-5, atol=1e-6), key
    assert torch.allclose(fast.loss.thresholds, slow.loss.thresholds, atol=1e-5)
    for name, grad in grads[0].items():
        assert grads[1][name] is not None and close(grads[1][name], grad), name


def test_shipped_step_encodes_only_valid_negatives_in_buckets(monkeypatch):
    monkeypatch.setitem(text_encoding.CHUNK_OVERHEAD_TOKENS, "cpu", 0)
    model = tiny_model()
    rows = []
    real = text_encoding.encode_chunk

    def spy(clip, tokens, sdpa):
        rows.append(tuple(tokens.shape))
        return real(clip, tokens, sdpa)

    monkeypatch.setattr(text_encoding, "encode_chunk", spy)
    model(batch())
    assert sum(n for n, _ in rows) == 4 + int(MASK.sum())  # captions + valid negatives, each once
    assert len(rows) > 1 and all(length < model.context_length for _, length in rows)


def test_loader_made_token_ids_give_the_same_step_without_tokenising(monkeypatch):
    from ahnpl_plugin.models.clip.tokenizer import batch_token_ids

    model = tiny_model()
    reference = model(batch())["loss"]
    model.loss.thresholds.zero_()
    samples = {**batch(), **batch_token_ids(CAPTIONS, NEGATIVES, context_length=77)}
    assert samples["hard_negative_tokens"].shape == (4, 5, 77)

    def no_tokenizing(texts):
        raise AssertionError(f"tokenised {texts} although the batch carries token ids")

    monkeypatch.setattr(model, "tokenize", no_tokenizing)
    assert torch.equal(model(samples)["loss"], reference)


def test_loader_token_ids_follow_type_selection_and_are_checked():
    from ahnpl_plugin.models.clip.tokenizer import batch_token_ids

    model = tiny_model(**{"loss.negative_types": ["adj", "verb"]})
    picked = [[row[2], row[4]] for row in NEGATIVES]
    plain = {**batch(), "hard_negatives": picked, "hard_negative_mask": MASK[:, [2, 4]]}
    expected = model(plain)["loss"]
    model.loss.thresholds.zero_()
    carried = {**batch(), "hard_negative_types": list(TYPES), **batch_token_ids(CAPTIONS, NEGATIVES)}
    assert torch.equal(model(carried)["loss"], expected)
    with pytest.raises(ValueError, match=r"samples\['text_tokens'\] has 16 token positions; the model needs at least its context length 32"):
        model({**carried, "text_tokens": tokenize(CAPTIONS, 16)})
    with pytest.raises(ValueError, match=r"samples\['hard_negative_tokens'\] must be a long tensor of shape \[4, 5, 'C'\]"):
        model({**carried, "hard_negative_tokens": torch.zeros(4, 2, 77, dtype=torch.long)})


# ------------------------------------------------------------------------------------------------
# Config and compile
# ------------------------------------------------------------------------------------------------


def test_speed_keys_in_every_default_yaml_and_validated():
    for path in sorted((REPO / "lavis_configs" / "models").glob("ahnpl_clip_*.yaml")):
        model_cfg = OmegaConf.load(path).model
        assert model_cfg.sdpa is True and model_cfg.text_length == "buckets", path.name
    assert tiny_model(text_length="longest", sdpa=False).text_encoder().length == "longest"
    with pytest.raises(ConfigError, match="model.text_length 'short'; valid: buckets, full, longest"):
        tiny_model(text_length="short")
    with pytest.raises(ConfigError, match="model.sdpa must be true or false"):
        tiny_model(sdpa="yes")


@pytest.mark.slow  # torch.compile
def test_compile_towers_keeps_results_and_state_dict():
    model = tiny_model().eval()
    keys = list(model.state_dict())
    with torch.no_grad():
        eager = (model.encode_image(batch()["image"]), model.encode_text(CAPTIONS))
        model.compile_towers(backend="eager")  # dynamo tracing without a C++ toolchain
        compiled = (model.encode_image(batch()["image"]), model.encode_text(CAPTIONS))
    assert list(model.state_dict()) == keys
    assert all(torch.allclose(c, e, atol=1e-6) for c, e in zip(compiled, eager))


# ------------------------------------------------------------------------------------------------
# perf/step.py
# ------------------------------------------------------------------------------------------------


def step_module():
    sys.path.insert(0, str(REPO / "perf"))
    try:
        import step
    finally:
        sys.path.remove(str(REPO / "perf"))
    return step


def test_step_benchmark_batch_is_coco_like_and_deterministic():
    step = step_module()
    captions, negatives, mask = step.synthetic_batch(400, seed=3)
    assert (captions, negatives, mask) == step.synthetic_batch(400, seed=3)
    words = [len(c.split()) for c in captions]
    assert min(words) >= 7 and 9.5 < sum(words) / len(words) < 12.5
    for text, row, valid in zip(captions, negatives, mask):
        for negative, ok in zip(row, valid):
            assert (negative == "###") == (not ok)
            assert not ok or (len(negative.split()) == len(text.split()) and negative != text)
    share = sum(map(sum, mask)) / (5 * len(mask))
    assert 0.45 < share < 0.67  # VALID_RATES average 0.56


@pytest.mark.slow  # runs the step benchmark
def test_step_benchmark_runs_and_reports(tmp_path, capsys):
    step = step_module()
    out = tmp_path / "step.json"
    report = step.main(["--device", "cpu", "--batch", "4", "--warmup", "0", "--steps", "1", "--rounds", "1",
                        "--variants", "a,b,c", "--json", str(out)])
    table = capsys.readouterr().out
    assert "| a |" in table and "| b |" in table and "| c |" in table and "pairs/s" in table
    saved = json.loads(out.read_text())
    assert saved["results"].keys() == {"a", "b", "c"} and saved["config"]["batch"] == 4
    assert report["results"]["b"]["vs_b"] == pytest.approx(1.0)
    assert all(row["loss"] > 0 and row["steps_timed"] == 1 for row in saved["results"].values())
