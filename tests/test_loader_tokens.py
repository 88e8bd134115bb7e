"""Token ids made in loader workers (issue 21, item 1): identical to each model's own tokenisation
for captions of every length (truncated ones included), used by the models without tokenising
again, kept on the host, and added by the runner to every training dataset's batches."""

from __future__ import annotations

import pickle

import pytest
import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from ahnpl_plugin.contract import AHNPL_TYPES
from ahnpl_plugin import compat

compat.apply()

from ahnpl_plugin.models.loader_tokens import ClipLoaderTokens, TokenizingCollater  # noqa: E402

TYPES = AHNPL_TYPES  # the contract's five, in its order
EOT = 49407  # CLIP's <end_of_text>
WORDS = "a small red dog sits left of the big blue table near two cats and".split()


def caption(n_words: int) -> str:
    return " ".join(WORDS[i % len(WORDS)] for i in range(n_words))


# 0 to 90 words: CLIP's 77 and the tiny model's 32 positions, BLIP's 35, are all crossed
CAPTIONS = [caption(n) for n in range(0, 91, 3)] + ["a !~ b", "Ünïcode café, ok?", "###"]


from helpers.models import tiny_clip  # noqa: E402

pytestmark = pytest.mark.usefixtures("lavis_ready")  # conftest.py


def _clip(**overrides):
    return tiny_clip(**overrides)


def _blip(**changes):
    from lavis.common.registry import registry

    cls = registry.get_model_class("ahnpl_blip")
    cfg = OmegaConf.merge(OmegaConf.load(cls.default_config_path("tiny")).model, changes)
    torch.manual_seed(0)
    return cls.from_config(cfg)


def _negatives(captions):
    """K=5 negatives per caption: variants of other lengths, some invalid."""
    rows, mask = [], []
    for i, text in enumerate(captions):
        row = [caption((i * 7 + k * 11) % 95) if (i + k) % 3 else "###" for k in range(5)]
        rows.append(row)
        mask.append([text != "###" for text in row])
    return rows, torch.tensor(mask)


@pytest.mark.parametrize("context", [32, 77])
def test_clip_loader_ids_are_the_models_own_for_every_length(context):
    model = _clip()  # the tiny type's context is 32; 77 (the real types') set on the instance
    model.context_length = length = context
    tokens = pickle.loads(pickle.dumps(model.loader_tokenizer()))  # travels to spawned workers
    negatives, _ = _negatives(CAPTIONS)
    out = tokens({"text_input": CAPTIONS, "hard_negatives": negatives})
    assert torch.equal(out["text_tokens"], model.tokenize(CAPTIONS))
    flat = [text for row in negatives for text in row]
    assert torch.equal(out["hard_negative_tokens"].reshape(-1, length), model.tokenize(flat))
    cut = [i for i, text in enumerate(CAPTIONS) if len(text.split()) + 2 > length]
    assert cut and all(int(out["text_tokens"][i, -1]) == EOT for i in cut)  # truncated rows end in EOT
    assert all(int(out["text_tokens"][i].argmax()) == length - 1 for i in cut)  # and are pooled there


def test_bert_loader_ids_cut_to_the_pass_are_the_blip_models_own():
    model = _blip()
    tokens = pickle.loads(pickle.dumps(model.loader_tokenizer()))
    captions = CAPTIONS[:12]
    negatives, mask = _negatives(captions)
    samples = {"text_input": captions, "hard_negatives": negatives, "hard_negative_types": TYPES,
               **tokens({"text_input": captions, "hard_negatives": negatives})}
    from ahnpl_plugin.models.negative_batch import texts_to_encode

    for encode_invalid in (False, True):
        texts, encoded = texts_to_encode(captions, negatives, mask, encode_invalid=encode_invalid)
        given = model._loader_tokens(samples, len(captions), encoded)
        own = model.tokenize(texts)
        assert torch.equal(given.input_ids, own.input_ids) and torch.equal(given.attention_mask, own.attention_mask)
    assert int(own.attention_mask.sum(1).max()) == model.max_txt_len  # some texts were truncated
    short = model._loader_tokens({**samples, "text_input": captions[:3]} | tokens({"text_input": captions[:3]}), 3, None)
    assert torch.equal(short.input_ids, model.tokenize(captions[:3]).input_ids)  # cut to the longest of the pass


def test_blip_step_with_loader_ids_equals_its_own_tokenising_and_never_tokenises(monkeypatch):
    captions = ["a red dog left of a blue cat", "two cats", caption(60), "a big table"]
    negatives, mask = _negatives(captions)
    samples = {"image": torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1)),
               "text_input": captions, "hard_negatives": negatives, "hard_negative_mask": mask,
               "hard_negative_types": TYPES, "epoch": 0, "iters": 5, "num_iters_per_epoch": 10}
    reference, model = _blip(), _blip()
    torch.manual_seed(5)  # ITM negatives are sampled
    expected = reference(dict(samples))
    carried = {**samples, **model.loader_tokenizer()(samples)}

    def no_tokenizing(texts):
        raise AssertionError("tokenised although the batch carries token ids")

    monkeypatch.setattr(model, "tokenize", no_tokenizing)
    torch.manual_seed(5)
    got = model(carried)
    for key in ("loss", "loss_itc", "loss_itm", "loss_hn", "loss_dm"):
        assert torch.equal(got[key], expected[key]), key


def test_host_side_token_keys_stay_on_the_host():
    from ahnpl_plugin.runner import HOST_KEYS, _to_device

    batch = {"image": torch.zeros(2, 3), "hard_negative_mask": torch.zeros(2, 5, dtype=torch.bool)}
    batch.update(ClipLoaderTokens(8)({"text_input": ["a", "b"], "hard_negatives": [["c"] * 5, ["d"] * 5]}))
    batch.update(text_token_mask=torch.ones(2, 8, dtype=torch.long), hard_negative_token_mask=torch.ones(2, 5, 8, dtype=torch.long))
    moved = _to_device(batch, torch.device("meta"))
    assert moved["image"].device.type == "meta"
    for key in ("hard_negative_mask", "text_tokens", "hard_negative_tokens", "text_token_mask", "hard_negative_token_mask"):
        assert key in HOST_KEYS and moved[key].device.type == "cpu", key


# ----------------------------------------------------------------------------- every dataset


def _check_batch(batch, context):
    expected = ClipLoaderTokens(context)({"text_input": batch["text_input"], "hard_negatives": batch.get("hard_negatives")})
    assert torch.equal(batch["text_tokens"], expected["text_tokens"])
    if "hard_negatives" in batch:
        assert batch["hard_negative_tokens"].shape == (len(batch["text_input"]), len(batch["hard_negatives"][0]), context)
        assert torch.equal(batch["hard_negative_tokens"], expected["hard_negative_tokens"])


@pytest.mark.slow  # two DataLoader worker processes
def test_folder_dataset_batches_are_tokenised_in_two_workers(coco):
    """The COCO folder (also the npy-import's and the synthetic world's dataset class)."""
    from torchvision import transforms

    from ahnpl_plugin.datasets.hard_negatives import HardNegativeDataset
    from ahnpl_plugin.data.jsonio import iter_jsonl

    folder, negatives = coco
    records = [row for _, row in iter_jsonl(negatives)]
    dataset = HardNegativeDataset(records, folder.images, transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()]),
                                  negative_types=TYPES)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=TokenizingCollater(dataset.collater, ClipLoaderTokens(32)))
    batches = list(loader)
    assert len(batches) == len(dataset) // 4
    for batch in batches:
        _check_batch(batch, 32)


def test_stock_lavis_batches_without_a_collater_get_caption_tokens():
    samples = [{"image": torch.zeros(3), "text_input": caption(n), "image_id": n} for n in (2, 40, 90)]
    batch = TokenizingCollater(None, ClipLoaderTokens(77))(samples)
    assert batch["image"].shape == (3, 3) and "hard_negative_tokens" not in batch
    _check_batch(batch, 77)
    assert TokenizingCollater(None, ClipLoaderTokens(77))([{"image": torch.zeros(1)}]).keys() == {"image"}


@pytest.mark.slow  # two DataLoader worker processes
def test_shard_stream_batches_are_tokenised_in_two_workers(coco, tmp_path):
    from torchvision import transforms

    from ahnpl_plugin.data.cli import main as data_main
    from ahnpl_plugin.datasets.shard_stream import HardNegativeShardStream

    folder, negatives = coco
    out = tmp_path / "shards"
    assert data_main(["write-shards", "--annotations", str(folder.annotations["train"]), "--negatives", str(negatives),
                      "--images", str(folder.images), "--output", str(out), "--samples-per-shard", "4",
                      "--no-progress"]) == 0
    stream = HardNegativeShardStream(sorted(str(p) for p in out.glob("*.tar")), transforms.Compose([transforms.Resize((8, 8)), transforms.ToTensor()]),
                                     negative_types=TYPES, num_samples=16, shuffle_buffer=4)
    loader = DataLoader(stream, batch_size=2, num_workers=2, collate_fn=TokenizingCollater(stream.collater, ClipLoaderTokens(32)))
    batches = list(loader)
    assert sum(len(b["text_input"]) for b in batches) == 16
    for batch in batches:
        _check_batch(batch, 32)


@pytest.mark.slow  # a training run
def test_runner_tokenises_in_the_loader_and_the_model_never_does(coco, tmp_path, monkeypatch):
    """Through the real runner: with run.loader_tokens (default) the model's tokenize is never
    called during training; switched off, the model tokenises (so the check bites)."""
    import yaml

    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.train import _train

    folder, negatives = coco
    calls = []
    original = AHNPLClip.tokenize

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(AHNPLClip, "tokenize", counting)
    for loader_tokens in (True, False):
        calls.clear()
        run = {"task": "retrieval", "runner": "ahnpl_runner", "device": "cpu", "init_lr": 1e-3, "max_epoch": 1,
               "batch_size_train": 4, "batch_size_eval": 8, "num_workers": 1, "seed": 7, "k_test": 8,
               "output_dir": str(tmp_path / f"o{loader_tokens}"), "train_splits": ["train"], "valid_splits": [],
               "test_splits": [], "log_freq": 0, "progress": False, "plot": False, "loader_tokens": loader_tokens}
        data = {"build_info": {"annotations": {s: {"storage": str(p)} for s, p in folder.annotations.items()},
                               "images": {"storage": str(folder.images)}}, "negatives": str(negatives)}
        cfg = {"model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""},
               "datasets": {"ahnpl_coco": data}, "run": run}
        path = tmp_path / f"c{loader_tokens}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        _train(["--cfg-path", str(path)])
        assert (calls == []) == loader_tokens, calls


def test_the_run_switches_must_be_booleans():
    from omegaconf import OmegaConf

    from ahnpl_plugin.config import validate_run_config
    from ahnpl_plugin.errors import ConfigError

    base = {"task": "retrieval", "output_dir": "out", "runner": "ahnpl_runner"}
    validate_run_config(OmegaConf.create({**base, "loader_tokens": False, "grad_checkpointing": True}))
    for key in ("loader_tokens", "grad_checkpointing"):
        with pytest.raises(ConfigError, match=f"run.{key} must be true or false, got 'no'"):
            validate_run_config(OmegaConf.create({**base, key: "no"}))
