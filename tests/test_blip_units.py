"""ahnpl_blip's pure parts: BLIP's ITC with hard-negative columns, the ITM pair plan, the tokenizer
check, the config keys and the evaluation score modes; each against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ahnpl_plugin.errors import ConfigError


# ------------------------------------------------------------------------------------ ITC
def test_positive_targets_spread_over_same_image_columns_in_batch_and_queue():
    from ahnpl_plugin.models.blip.itc import positive_targets

    ids = torch.tensor([5, 7, 5])
    queue = torch.tensor([[7, -100, 5, -1]])
    targets = positive_targets(ids, queue, 3)
    expected = torch.tensor([
        [1 / 3, 0, 1 / 3, 0, 0, 1 / 3, 0],  # image 5: captions 0 and 2, queue slot 2
        [0, 1 / 2, 0, 1 / 2, 0, 0, 0],  # image 7: caption 1, queue slot 0
        [1 / 3, 0, 1 / 3, 0, 0, 1 / 3, 0],
    ])
    assert torch.allclose(targets, expected)
    # without ids: each sample is its own image, nothing in the queue is positive
    alone = positive_targets(None, queue, 2)
    assert torch.equal(alone, torch.tensor([[1.0, 0, 0, 0, 0, 0], [0, 1.0, 0, 0, 0, 0]]))


def _unit(*rows):
    return F.normalize(torch.tensor(rows, dtype=torch.float64), dim=-1)


def test_queue_itc_without_hard_negatives_is_blips_soft_cross_entropy():
    from ahnpl_plugin.models.blip.itc import positive_targets, queue_contrastive_loss

    image, text = _unit([1, 0], [0, 1]), _unit([1, 1], [0, 1])
    image_m, text_m = _unit([1, 0.1], [0.1, 1]), _unit([1, 0.9], [0.1, 1])
    image_queue, text_queue = _unit([1, -1]).t(), _unit([-1, 1]).t()  # [D, Q=1]
    image_all, text_all = torch.cat([image_m.t(), image_queue], 1), torch.cat([text_m.t(), text_queue], 1)
    targets = positive_targets(None, torch.tensor([-100]), 2).double()
    temp, alpha = torch.tensor(0.5, dtype=torch.float64), 0.4
    loss = queue_contrastive_loss(image, text, image_all, text_all, image_m, text_m, targets, alpha, temp)

    def direction(online, keys_all, momentum):
        total = 0.0
        for i in range(2):
            logits = [float(online[i] @ keys_all[:, j]) / 0.5 for j in range(3)]
            distilled = torch.softmax(torch.tensor([float(momentum[i] @ keys_all[:, j]) / 0.5 for j in range(3)], dtype=torch.float64), 0)
            soft = [alpha * float(distilled[j]) + (1 - alpha) * (1.0 if j == i else 0.0) for j in range(3)]
            lse = math.log(sum(math.exp(v) for v in logits))
            total += -sum(soft[j] * (logits[j] - lse) for j in range(3))
        return total / 2

    expected = (direction(image, text_all, image_m) + direction(text, image_all, text_m)) / 2
    assert float(loss) == pytest.approx(expected, rel=1e-9)


def test_hard_negative_columns_extend_image_to_text_rows_with_zero_target_and_train_the_negatives():
    from ahnpl_plugin.models.blip.itc import queue_contrastive_loss

    image, text = _unit([1, 0]), _unit([1, 1])
    image_m, text_m = image.clone(), text.clone()
    image_all, text_all = image_m.t(), text_m.t()  # no queue, B = 1
    targets = torch.ones(1, 1, dtype=torch.float64)
    negative = _unit([1, -0.5]).requires_grad_(True)
    temp = torch.tensor(1.0, dtype=torch.float64)
    loss = queue_contrastive_loss(image, text, image_all, text_all, image_m, text_m, targets, 0.4, temp, negative)
    # i2t row: [v.t_m, v.n] with target [1, 0] (distillation over the single batch column is 1
    # too); t2i row: one column, loss 0. Total = CE_i2t / 2.
    pos, neg = float(image[0] @ text_m[0]), float(image[0] @ negative[0].detach())
    expected = (math.log(math.exp(pos) + math.exp(neg)) - pos) / 2
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-9)
    loss.backward()
    assert negative.grad is not None and float(negative.grad.norm()) > 0  # online features: the text side learns


def test_rampup_reads_lavis_and_ahnpl_runner_step_conventions():
    from ahnpl_plugin.models.blip.itc import rampup_factor, training_step

    # LAVIS: iters within the epoch; ahnpl_runner: the global step
    assert training_step(1, 3, 10) == 13 and training_step(1, 13, 10) == 13
    assert training_step(0, 4, 10) == 4
    assert rampup_factor(0, 5, 10) == pytest.approx(0.25)
    assert rampup_factor(1, 15, 10) == pytest.approx(0.75) == rampup_factor(1, 5, 10)
    assert rampup_factor(3, 0, 10) == 1.0
    assert rampup_factor(0, 0, 0) == 1.0  # no schedule given: full distillation


# ------------------------------------------------------------------------------------ ITM
def test_hard_negatives_are_valid_own_negatives_at_most_n_per_image():
    from ahnpl_plugin.models.blip.itm import sample_hard_negatives

    logits = torch.tensor([[0.0, 50.0, -50.0], [10.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    mask = torch.tensor([[True, True, True], [True, False, False], [False, False, False]])
    torch.manual_seed(0)
    images, types = sample_hard_negatives(logits, mask, per_image=2)
    # image 0: two of three, the 50-logit one first (a gap of 50 beats any Gumbel noise here);
    # image 1: its only valid one; image 2: none
    assert images.tolist() == [0, 0, 1]
    assert types[0].item() == 1 and types[1].item() in (0, 2) and types[2].item() == 0
    images, types = sample_hard_negatives(logits, mask, per_image=5)
    assert images.tolist() == [0, 0, 0, 1] and sorted(types[:3].tolist()) == [0, 1, 2]
    assert sample_hard_negatives(logits, mask, per_image=0)[0].numel() == 0


def test_hard_negative_sampling_follows_the_softmax_of_similarities():
    from ahnpl_plugin.models.blip.itm import sample_hard_negatives

    logits = torch.tensor([[math.log(3.0), 0.0]]).repeat(4000, 1)  # probabilities 0.75 / 0.25
    torch.manual_seed(1)
    _, types = sample_hard_negatives(logits, torch.ones(4000, 2, dtype=torch.bool), per_image=1)
    assert float((types == 0).float().mean()) == pytest.approx(0.75, abs=0.03)


def test_negative_token_rows_follow_the_encoded_sample_major_layout():
    from ahnpl_plugin.models.blip.itm import negative_token_rows

    encoded = torch.tensor([[True, False, True], [False, True, True]])
    assert negative_token_rows(encoded).tolist() == [[2, -1, 3], [-1, 4, 5]]


def test_in_batch_negatives_never_pair_an_image_with_its_own_captions():
    from ahnpl_plugin.models.blip.itm import sample_batch_negatives

    torch.manual_seed(0)
    ids = torch.tensor([0, 0, 1, 2])
    same = ids.view(-1, 1) == ids.view(1, -1)
    for _ in range(20):
        caption_for_image, image_for_caption = sample_batch_negatives(torch.randn(4, 4), same)
        assert all(ids[c] != ids[i] for i, c in enumerate(caption_for_image.tolist()))
        assert all(ids[m] != ids[j] for j, m in enumerate(image_for_caption.tolist()))
    # one image only: nobody has a candidate
    lone = sample_batch_negatives(torch.zeros(2, 2), torch.ones(2, 2, dtype=torch.bool))
    assert lone[0].tolist() == [-1, -1] and lone[1].tolist() == [-1, -1]


def test_itm_pairs_layout_and_labels():
    from ahnpl_plugin.models.blip.itm import itm_pairs

    pairs = itm_pairs(
        3,
        caption_for_image=torch.tensor([1, -1, 0]),
        image_for_caption=torch.tensor([2, 0, -1]),
        hard_images=torch.tensor([0, 0, 2]),
        hard_text_rows=torch.tensor([3, 4, 6]),
    )
    # positives (i, i); caption j with image_for_caption[j]; caption_for_image[i] with image i; hard
    assert pairs.text_rows.tolist() == [0, 1, 2, 0, 1, 1, 0, 3, 4, 6]
    assert pairs.image_rows.tolist() == [0, 1, 2, 2, 0, 0, 2, 0, 0, 2]
    assert pairs.labels.tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert pairs.counts == {"positive": 3, "sampled": 4, "hard": 3}


# ------------------------------------------------------------------------------ tokenizer
def test_builtin_tiny_tokenizer_and_the_same_vocabulary_from_a_folder(tmp_path):
    from ahnpl_plugin.models.blip.tokenizer import (
        builtin_tiny_vocab_size,
        builtin_tiny_vocabulary,
        load_blip_tokenizer,
        write_vocabulary,
    )

    size = builtin_tiny_vocab_size()
    assert size == len(builtin_tiny_vocabulary()) + 2 == 169
    builtin = load_blip_tokenizer("builtin-tiny", size)
    folder = write_vocabulary(tmp_path / "tok", builtin_tiny_vocabulary())
    from_folder = load_blip_tokenizer(folder, size)
    text = "A small red circle to the left of a zebra."
    assert builtin.tokenize(text)[:7] == ["a", "small", "red", "circle", "to", "the", "left"]
    assert builtin.tokenize("zebra") == ["z", "##e", "##b", "##r", "##a"]  # characters, never [UNK]
    assert builtin(text).input_ids == from_folder(text).input_ids
    # LAVIS's BLIP tokens: [DEC] and [ENC] appended, enc_token_id set
    assert builtin.convert_tokens_to_ids(["[DEC]", "[ENC]"]) == [size - 2, size - 1]
    assert builtin.enc_token_id == size - 1 and builtin.pad_token_id == 0


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: str(p / "absent"), "folder not found"),
        (lambda p: (p / "empty").mkdir() or str(p / "empty"), "has no vocab.txt"),
        (lambda p: _vocab(p, drop="[MASK]"), "lacks [MASK]"),
        (lambda p: _vocab(p, extra=["zzz"]), "170 tokens with [DEC]/[ENC], but the text encoder has vocab_size 169"),
        (lambda p: "", "model.tokenizer is empty"),
    ],
)
def test_a_wrong_or_missing_tokenizer_is_a_config_error(tmp_path, make, message):
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocab_size, load_blip_tokenizer

    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_blip_tokenizer(make(tmp_path), builtin_tiny_vocab_size())


def _vocab(tmp_path, drop=None, extra=()):
    from ahnpl_plugin.models.blip.tokenizer import builtin_tiny_vocabulary, write_vocabulary

    tokens = [t for t in builtin_tiny_vocabulary() if t != drop] + list(extra)
    if drop:
        tokens.append("filler")  # keep the size right, so the missing token is what fails
    return write_vocabulary(tmp_path / "v", tokens)


def test_unreachable_hub_tokenizer_says_how_to_work_offline(monkeypatch):
    from ahnpl_plugin.models.blip.tokenizer import load_blip_tokenizer

    import huggingface_hub.constants
    import transformers.utils.hub

    # offline mode as HF_HUB_OFFLINE=1 sets it at import time (no network retries in the test)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(transformers.utils.hub, "_is_offline_mode", True)
    with pytest.raises(ConfigError, match="offline, set model.tokenizer to a local folder"):
        load_blip_tokenizer("no-such-org/no-such-bert", 30524)


# --------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "change, message",
    [
        ({"model_type": "large"}, "unknown ahnpl_blip model_type 'large'; valid: coco, flickr, tiny"),
        ({"quick_gelu": True}, "unknown ahnpl_blip model key 'quick_gelu'"),
        ({"vit_type": "base"}, "model.vit_type does not apply to model_type tiny"),
        ({"negative_all_rank": True}, "negative_all_rank: true is not supported"),
        ({"scoring": "itm+itc"}, "unknown model.scoring 'itm+itc'; valid: itc, itc+itm, itm"),
        ({"itm_hard_negatives": -1}, "itm_hard_negatives must be an integer >= 0"),
        ({"load_finetuned": True}, "model.finetuned (a checkpoint path) is empty"),
        ({"loss": {"lamda_hn": 0.1}}, "unknown model.loss key 'lamda_hn'"),
    ],
)
def test_bad_model_keys_are_named(change, message):
    from ahnpl_plugin.models.blip.options import blip_model_options

    cfg = {"arch": "ahnpl_blip", "model_type": "tiny", "tokenizer": "builtin-tiny", **change}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        blip_model_options(cfg)


def test_type_yamls_give_every_key_a_valid_value():
    from omegaconf import OmegaConf

    from ahnpl_plugin.models import CONFIG_FILES
    from ahnpl_plugin.models.blip.options import blip_model_options
    from ahnpl_plugin.paths import config_path

    for model_type, path in CONFIG_FILES["ahnpl_blip"].items():
        options = blip_model_options(OmegaConf.load(config_path(path)).model)
        assert options.model_type == model_type and options.scoring == "itc+itm"
        assert options.itm_hard_negatives == 1 and options.loss == {}  # model.loss: lavis_configs/models/loss.yaml
    coco = blip_model_options(OmegaConf.load(config_path(CONFIG_FILES["ahnpl_blip"]["coco"])).model)
    assert coco.tokenizer == "bert-base-uncased" and coco.load_finetuned and coco.architecture["image_size"] == 384


# ---------------------------------------------------------------------------------- scores
def test_score_modes_from_cosine_and_itm_logits():
    from ahnpl_plugin.models.blip.scoring import combine

    cosine = torch.tensor([0.5, -0.25])
    logits = torch.tensor([[1.0, 3.0], [2.0, -1.0]])  # (no match, match)
    assert combine("itc", cosine, logits).tolist() == [0.5, -0.25]
    assert combine("itm", None, logits).tolist() == [2.0, -3.0]  # log-odds of a match
    assert combine("itc+itm", cosine, logits).tolist() == [3.5, -1.25]  # LAVIS: cosine + match logit
