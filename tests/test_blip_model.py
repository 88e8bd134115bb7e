"""ahnpl_blip (tiny type, random weights): BLIP's own objective kept (checked against LAVIS's
BlipRetrieval on the same weights), hard negatives reaching ITC and ITM, the AHNPL terms, weights
loading, and the three evaluation score modes in LAVIS's RetrievalTask and the compositional task."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

CAPTIONS = ["a red circle to the left of a blue square", "a small green triangle above a cross",
            "a large yellow diamond below a red circle", "a blue square to the right of a cat"]
TYPES3 = ["relation", "adj", "noun"]


pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _f(value) -> float:
    """A scalar tensor (possibly requiring grad) or number as a float."""
    return float(value.detach()) if torch.is_tensor(value) else float(value)


def _model(**changes):
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    cls = registry.get_model_class("ahnpl_blip")
    cfg = OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model, changes)
    torch.manual_seed(0)
    return cls.from_config(cfg)


def _samples(negatives=None, mask=None, types=None, image_id=None, seed=1):
    generator = torch.Generator().manual_seed(seed)
    samples = {"image": torch.randn(4, 3, 32, 32, generator=generator), "text_input": list(CAPTIONS),
               "epoch": 0, "iters": 5, "num_iters_per_epoch": 10}
    if negatives is not None:
        samples.update(hard_negatives=negatives, hard_negative_mask=torch.tensor(mask, dtype=torch.bool),
                       hard_negative_types=types)
    if image_id is not None:
        samples["image_id"] = image_id
    return samples


NEGATIVES3 = [
    ["a blue circle to the left of a red square", "a pink circle to the left of a blue square",
     "a red circle to the left of a blue dog"],
    ["###", "a small white triangle above a cross", "###"],
    ["###", "###", "###"],
    ["a cat to the right of a blue square", "###", "a blue square to the right of a dog"],
]
MASK3 = [[1, 1, 1], [0, 1, 0], [0, 0, 0], [1, 0, 1]]


def test_without_negatives_the_itc_is_lavis_blip_retrievals_on_the_same_weights(monkeypatch):
    from lavis.models.blip_models.blip_retrieval import BlipRetrieval

    model = _model(loss={"negative_types": [], "use_hn": False, "use_dm": False}, itm_hard_negatives=0, queue_size=8)
    monkeypatch.setattr(BlipRetrieval, "init_tokenizer", classmethod(lambda cls: model.tokenizer))
    stock = BlipRetrieval(copy.deepcopy(model.visual_encoder), copy.deepcopy(model.text_encoder), queue_size=8,
                          embed_dim=64)
    stock.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("loss.")})
    ids = torch.tensor([3, 8, 3, 9])  # captions 0 and 2 show the same image
    for step in range(2):  # the second step reads the queue the first one filled
        samples = _samples(image_id=ids, seed=step)
        ours, theirs = model(dict(samples)), stock(dict(samples))
        assert float(ours["loss_itc"].detach()) == pytest.approx(float(theirs.loss_itc.detach()), abs=1e-5)
        assert float(ours["loss"].detach()) == pytest.approx(float((ours["loss_itc"] + ours["loss_itm"]).detach()), abs=1e-6)
        assert _f(ours["alpha"]) == pytest.approx(0.4 * 0.25)
    for name in ("image_queue", "text_queue", "idx_queue", "queue_ptr"):
        assert torch.allclose(getattr(model, name).float(), getattr(stock, name).float(), atol=1e-5), name
    for ours_p, theirs_p in zip(model.text_encoder_m.parameters(), stock.text_encoder_m.parameters()):
        assert torch.allclose(ours_p, theirs_p)


def test_itm_gets_hard_negative_captions_paired_with_their_own_image():
    model = _model(loss={"negative_types": TYPES3}, itm_hard_negatives=2, queue_size=8).train()
    samples = _samples(NEGATIVES3, MASK3, TYPES3)
    calls, head = [], []
    model.text_encoder.register_forward_pre_hook(
        lambda module, args, kwargs: calls.append((args, kwargs)) if "encoder_hidden_states" in kwargs else None,
        with_kwargs=True)
    model.itm_head.register_forward_hook(lambda module, args, output: head.append(output))
    torch.manual_seed(3)
    out = model(samples)

    pairs = model.last_itm_pairs
    # B positives, 2B similarity-sampled negatives, min(N=2, valid) hard ones per image: 2+1+0+2
    assert pairs.counts == {"positive": 4, "sampled": 8, "hard": 5} and out["itm_hard_pairs"] == 5.0
    assert pairs.labels.tolist() == [1] * 4 + [0] * 13
    (args, kwargs), = calls  # one cross-attention pass for every ITM pair
    input_ids, image_states = args[0], kwargs["encoder_hidden_states"]
    assert input_ids.shape[0] == image_states.shape[0] == head[0].shape[0] == 17
    assert bool((input_ids[:, 0] == model.tokenizer.enc_token_id).all())
    with torch.no_grad():
        image_embeds = model.visual_encoder.forward_features(samples["image"])
    hard_images = pairs.image_rows[-5:].tolist()
    assert hard_images == [0, 0, 1, 3, 3]
    for r, image in zip(range(12, 17), hard_images):
        assert torch.allclose(image_states[r], image_embeds[image], atol=1e-6)
        text = model.tokenizer.decode(input_ids[r, 1:], skip_special_tokens=True)
        own_valid = [n for n, m in zip(NEGATIVES3[image], MASK3[image]) if m]
        assert text in own_valid, (r, text)
    assert len({model.tokenizer.decode(input_ids[r, 1:], skip_special_tokens=True) for r in (12, 13)}) == 2
    # positives pair each caption with its image
    for r in range(4):
        assert model.tokenizer.decode(input_ids[r, 1:], skip_special_tokens=True) == CAPTIONS[r]
        assert torch.allclose(image_states[r], image_embeds[r], atol=1e-6)
    assert _f(out["loss_itm"]) == pytest.approx(_f(F.cross_entropy(head[0], pairs.labels)), abs=1e-6)

    # every negative valid: B positives + 2B sampled + B*N hard rows
    every = [[f"{c} {word}" for word in ("dog", "cat", "bed")] for c in CAPTIONS]
    model(_samples(every, [[1, 1, 1]] * 4, TYPES3))
    assert model.last_itm_pairs.counts == {"positive": 4, "sampled": 8, "hard": 8}
    assert head[-1].shape[0] == 4 + 8 + 8 and model.last_itm_pairs.labels.sum() == 4


def test_every_term_is_on_and_hn_dm_are_ahnpl_loss_on_blips_itc_features():
    from ahnpl_plugin.losses import AHNPLLoss

    model = _model(loss={"negative_types": TYPES3}, queue_size=8).train()
    samples = _samples(NEGATIVES3, MASK3, TYPES3)
    with torch.no_grad():  # the online towers are not changed by a forward pass
        image = model.encode_image(samples["image"])
        text = model.encode_text(CAPTIONS)
        flat = [n for row in NEGATIVES3 for n in row]
        negatives = model.encode_text(flat).reshape(4, 3, -1)
        reference_loss = AHNPLLoss(negative_types=TYPES3)  # training mode: updates its theta like the model's
        reference = reference_loss(image, text, negatives, torch.tensor(MASK3).bool(), 1 / model.temp)
    out = model(samples)
    for key in ("loss_hn", "loss_hn_text", "loss_hn_image", "loss_dm", "loss_dm_pos", "loss_dm_neg"):
        assert _f(out[key]) == pytest.approx(_f(reference[key]), abs=1e-5), key
    assert _f(out["loss_hn_text"]) > 0 and _f(out["loss_hn_image"]) > 0 and _f(out["loss_dm"]) > 0
    total = out["loss_itc"] + out["loss_itm"] + 0.2 * out["loss_hn"] + 0.2 * out["loss_dm"]
    assert _f(out["loss"]) == pytest.approx(_f(total), abs=1e-6)
    # theta: used 0 at this step, updated from this batch for the types that had valid negatives
    assert all(_f(out[f"theta/{t}"]) == 0.0 for t in TYPES3)
    assert torch.allclose(model.loss.thresholds, reference_loss.thresholds, atol=1e-4)
    assert float(model.loss.thresholds.max()) > 0
    assert _f(out["logit_scale"]) == pytest.approx(1 / 0.07, rel=1e-5)
    out["loss"].backward()
    assert model.temp.grad is not None and model.text_proj.weight.grad.abs().sum() > 0


def test_hard_negative_columns_in_itc_are_the_only_difference_of_itc_hard_negatives():
    base = _model(loss={"negative_types": TYPES3, "itc_hard_negatives": False}, queue_size=8)
    with_columns = _model(loss={"negative_types": TYPES3, "itc_hard_negatives": True}, queue_size=8)
    samples = _samples(NEGATIVES3, MASK3, TYPES3)
    off, on = base(dict(samples)), with_columns(dict(samples))
    # the 6 valid negatives only add image->text columns: more negatives, larger loss
    assert _f(on["loss_itc"]) > _f(off["loss_itc"])
    for key in ("loss_hn", "loss_dm"):
        assert _f(on[key]) == pytest.approx(_f(off[key]), abs=1e-6)


def test_checkpoint_reloads_with_theta_and_wrong_files_are_named(tmp_path):
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.errors import BlipWeightsError

    model = _model(loss={"negative_types": TYPES3}, queue_size=8)
    model(_samples(NEGATIVES3, MASK3, TYPES3))
    model(_samples(NEGATIVES3, MASK3, TYPES3, seed=2))
    assert float(model.loss.thresholds.abs().sum()) > 0
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": model.state_dict(), "epoch": 0}, path)
    reloaded = _model(loss={"negative_types": TYPES3}, queue_size=8, load_finetuned=True, finetuned=str(path))
    state, again = model.state_dict(), reloaded.state_dict()
    for key, value in state.items():
        if key == "queue_ptr":  # LAVIS resets the pointer after loading
            assert int(again[key]) == 0
            continue
        assert torch.equal(again[key], value), key
    # the saved checkpoint is a LAVIS BLIP retrieval checkpoint too: keys match BlipRetrieval's
    assert {k for k in state if not k.startswith("loss.")} <= set(state)
    # missing inputs are found before anything is built (BlipInputsError, a ConfigError)
    with pytest.raises(ConfigError, match="'openai' names OpenAI's CLIP weights"):
        _model(pretrained="openai")
    with pytest.raises(ConfigError, match="checkpoint not found"):
        _model(load_finetuned=True, finetuned=str(tmp_path / "nope.pth"))
    torch.save({"model": {"visual_encoder.cls_token": torch.zeros(1, 1, 64)}}, tmp_path / "partial.pth")
    with pytest.raises(BlipWeightsError, match="lacks .* weight"):
        _model(pretrained=str(tmp_path / "partial.pth"))
    wrong = {k: (torch.zeros(3) if k == "text_proj.bias" else v) for k, v in state.items()}
    torch.save({"model": wrong}, tmp_path / "wrong.pth")
    with pytest.raises(BlipWeightsError, match=r"text_proj.bias \(3,\) vs \(64,\)"):
        _model(load_finetuned=True, finetuned=str(tmp_path / "wrong.pth"))


class _RetrievalData(torch.utils.data.Dataset):
    """LAVIS's retrieval eval layout: ``text``, ``image``, ``txt2img``, ``img2txt``."""

    def __init__(self):
        generator = torch.Generator().manual_seed(5)
        self.images = torch.randn(3, 3, 32, 32, generator=generator)
        self.image = ["i0", "i1", "i2"]
        self.text = list(CAPTIONS) + ["a cat above a dog"]
        self.txt2img = {0: 0, 1: 1, 2: 2, 3: 0, 4: 1}
        self.img2txt = {0: [0, 3], 1: [1, 4], 2: [2]}

    def __len__(self):
        return 3

    def __getitem__(self, index):
        return {"image": self.images[index], "index": index}


def test_itc_retrieval_scores_are_float32_cosines_under_bf16_autocast():
    from ahnpl_plugin.models.blip.scoring import encode_images_for_retrieval, encode_texts_for_retrieval

    model = _model(queue_size=8).eval()
    loader = torch.utils.data.DataLoader(_RetrievalData(), batch_size=2)
    model.scoring = "itc"
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        i2t, t2i = model.compute_sim_matrix(loader, task_cfg=None)
        with torch.no_grad():
            text_feats = encode_texts_for_retrieval(model, loader.dataset.text, 35)[0]
            image_feats = encode_images_for_retrieval(model, loader, keep_embeds=False)[0]
    assert i2t.dtype == np.float32
    exact = (image_feats.float() @ text_feats.float().t()).numpy()
    assert np.allclose(i2t, exact, atol=1e-6) and np.allclose(t2i, exact.T, atol=1e-6)


def test_retrieval_scores_in_each_mode_and_itc_itm_equals_lavis(monkeypatch, tmp_path):
    from lavis.common.registry import registry
    from lavis.models.albef_models import compute_sim_matrix as lavis_compute_sim_matrix
    from lavis.tasks.retrieval import RetrievalTask
    from omegaconf import OmegaConf

    model = _model(queue_size=8).eval()
    loader = torch.utils.data.DataLoader(_RetrievalData(), batch_size=2)
    task_cfg = OmegaConf.create({"k_test": 2})
    scores = {}
    for mode in ("itc", "itm", "itc+itm"):
        model.scoring = mode
        scores[mode] = model.compute_sim_matrix(loader, task_cfg=task_cfg)
    with torch.no_grad():  # as LAVIS's runner calls it
        expected = lavis_compute_sim_matrix(model=model, data_loader=loader, k_test=2)
    assert np.allclose(scores["itc+itm"][0], expected[0], atol=1e-5)
    assert np.allclose(scores["itc+itm"][1], expected[1], atol=1e-5)
    with torch.no_grad():
        cosine = (model.encode_image(loader.dataset.images) @ model.encode_text(loader.dataset.text).t()).numpy()
    assert np.allclose(scores["itc"][0], cosine, atol=1e-6) and np.allclose(scores["itc"][1], cosine.T, atol=1e-6)
    # itm: the same top-2 entries re-scored with the match log-odds, -100 elsewhere
    i2t = scores["itm"][0]
    assert ((i2t == -100.0).sum(axis=1) == 3).all()
    top = np.argsort(-cosine[0])[:2]
    with torch.no_grad():
        tokens = model.tokenize([loader.dataset.text[j] for j in top])
        ids = tokens.input_ids.clone()
        ids[:, 0] = model.tokenizer.enc_token_id
        embeds = model.visual_encoder.forward_features(loader.dataset.images[:1]).expand(2, -1, -1)
        from ahnpl_plugin.models.blip.scoring import itm_logits

        logits = itm_logits(model, embeds, ids, tokens.attention_mask)
    assert np.allclose(i2t[0, top], (logits[:, 1] - logits[:, 0]).numpy(), atol=1e-5)
    # LAVIS's RetrievalTask drives it end to end (it appends to <output_dir>/evaluate.txt)
    monkeypatch.setitem(registry.mapping["paths"], "output_dir", str(tmp_path))
    metrics = RetrievalTask(task_cfg).evaluation(model, loader)
    assert set(metrics) >= {"txt_r1", "img_r1", "agg_metrics"} and 0 <= metrics["agg_metrics"] <= 100


def test_compositional_task_scores_pairs_with_each_mode_once(tmp_path):
    from lavis.common.registry import registry

    from ahnpl_plugin.datasets.choice_eval import ChoiceEvalDataset
    from ahnpl_plugin.tasks.compositional import CompositionalTask

    rng = np.random.default_rng(0)
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"{i}.png"))
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(paths[-1])
    items = [{"images": [paths[0]], "captions": [CAPTIONS[0], CAPTIONS[3]], "label": 0, "category": "a"},
             {"images": [paths[1]], "captions": [CAPTIONS[1], CAPTIONS[0]], "label": 0, "category": "a"},
             {"images": [paths[0]], "captions": [CAPTIONS[3], CAPTIONS[0]], "label": 1, "category": "b"}]
    seen = []

    def score_fn(sims):
        seen.append(sims)
        return {"average": float(np.mean([s[0].argmax() == item["label"] for s, item in zip(sims, items)]))}

    processor = registry.get_processor_class("blip_image_eval")(image_size=32)
    dataset = ChoiceEvalDataset(items, processor, score_fn, lambda ref: Image.open(ref).convert("RGB"))
    model = _model(queue_size=8).eval()
    with torch.no_grad():
        images = torch.stack([processor(Image.open(p).convert("RGB")) for p in paths])
        cosine = model.encode_image(images) @ model.encode_text(CAPTIONS).t()
        embeds = model.visual_encoder.forward_features(images)
        logits = torch.stack([
            torch.stack([
                model.itm_head(model.text_encoder(
                    torch.cat([torch.tensor([[model.tokenizer.enc_token_id]]), model.tokenize([c]).input_ids[:, 1:]], 1),
                    attention_mask=model.tokenize([c]).attention_mask, encoder_hidden_states=embeds[i:i + 1],
                    encoder_attention_mask=torch.ones(embeds.shape[:2], dtype=torch.long)[:1], return_dict=True,
                ).last_hidden_state[:, 0, :])[0]
                for c in CAPTIONS])
            for i in range(2)])  # [image, caption, 2]
    expected = {"itc": cosine, "itm": logits[..., 1] - logits[..., 0], "itc+itm": cosine + logits[..., 1]}
    counts = {}
    for mode in ("itc", "itm", "itc+itm"):
        model.scoring = mode
        task = CompositionalTask(progress=False)
        first = task.evaluate_dataset(model, dataset, batch_size=2)
        sims = seen[-1]
        for sim, (image, caption_ids) in zip(sims, [(0, [0, 3]), (1, [1, 0]), (0, [3, 0])]):
            assert np.allclose(sim[0], expected[mode][image, caption_ids].numpy(), atol=1e-5), mode
        assert sims[0][0, 0] == sims[2][0, 1]  # the same pair is scored once: an exact tie
        counts[mode] = (task.cache.encoded_images, task.cache.encoded_texts, task.cache.scored_pairs)
        assert task.evaluate_dataset(model, dataset, batch_size=2) == first  # all from the cache
        assert counts[mode] == (task.cache.encoded_images, task.cache.encoded_texts, task.cache.scored_pairs)
    # 2 images, 3 distinct captions, 4 distinct pairs; itc+itm runs the image encoder once per image
    assert counts == {"itc": (2, 3, 0), "itm": (2, 0, 4), "itc+itm": (2, 3, 4)}
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.model_adapters import BlipItcEncoder, scoring_mode

    with pytest.raises(ConfigError, match="needs an image-text matching head"):
        encoder = BlipItcEncoder(model)
        encoder.scoring_modes = ("itc",)
        scoring_mode(model, encoder)


def test_image_ids_and_queue_size_are_checked():
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.models.blip.model import batch_image_ids

    strings = batch_image_ids(["coco_1", "coco_2", "coco_1"], 3, "cpu")
    assert strings[0] == strings[2] != strings[1] and bool((strings >= 0).all())
    assert torch.equal(strings, batch_image_ids(["coco_1", "coco_2", "coco_1"], 3, "cpu"))  # no hash salt
    assert batch_image_ids(torch.tensor([4, 5]), 2, "cpu").tolist() == [4, 5]
    assert batch_image_ids(None, 2, "cpu") is None
    with pytest.raises(ValueError, match="must be >= 0"):
        batch_image_ids([1, -2], 2, "cpu")
    with pytest.raises(ValueError, match="has 1 entries for B=2"):
        batch_image_ids(["a"], 2, "cpu")
    model = _model(queue_size=6)
    with pytest.raises(ConfigError, match="queue_size=6 must be a multiple of the global batch size 4"):
        model(_samples())
