"""``python -m ahnpl_plugin.export --format hf OUT/`` and ``--format open_clip OUT/``: the folders load
in transformers / open_clip with our features (1e-5), the exported CLIPTokenizer gives our token ids on
benchmark captions (long and Unicode ones included), the exported CLIPImageProcessor gives LAVIS's
``clip_image_eval`` tensors (1e-5; the one crop-offset difference pinned down), a SugarCrepe-layout
benchmark scores identically through transformers, and the model card marks what it cannot know."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ahnpl_plugin import compat

compat.apply()

from lavis.processors.clip_processors import ClipImageEvalProcessor  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402
from transformers import CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer  # noqa: E402

import ahnpl_plugin.benchmarks as benchmarks  # noqa: E402
from ahnpl_plugin.data.sample_folder import make_coco_folder  # noqa: E402
from ahnpl_plugin.datasets.benchmark_builders import BenchmarkChoiceDataset  # noqa: E402
from ahnpl_plugin.export import main  # noqa: E402
from ahnpl_plugin.export_hf import image_processor, write_tokenizer  # noqa: E402
from ahnpl_plugin.model_card import TO_FILL, missing_fields, model_card  # noqa: E402
from ahnpl_plugin.models.clip.model import AHNPLClip  # noqa: E402
from ahnpl_plugin.models.clip.tokenizer import tokenize  # noqa: E402
from ahnpl_plugin.tasks.compositional import CompositionalTask  # noqa: E402

ATOL = 1e-5
LONG = ("a very long caption that keeps going " * 12).strip()  # > 77 BPE tokens: cut, ends in EOT
BENCHMARK_CAPTIONS = [
    # Winoground, SugarCrepe, ARO (VG-Relation/Attribution, COCO-Order), VALSE, VL-CheckList style
    "some plants surrounding a lightbulb", "a lightbulb surrounding some plants",
    "A man is sitting on a bench next to a bicycle.", "A bicycle is sitting on a bench next to a man.",
    "the horse is eating the grass", "the grass is eating the horse",
    "the paved road and the white house", "the white road and the paved house",
    "There are exactly 3 dogs.", "A woman isn't holding an umbrella", "the cup is on the left of the laptop",
    "Two young men playing frisbee on a green field at night.", "man ride horse", "Dog.",
    # long and Unicode
    LONG, "café au lait — naïve 🍵 ok", "São Paulo’s “quoted” text…", "日本語のキャプション", "ﬁne ligature ½",
    "Tom &amp; Jerry &lt;3", "tabs\tand\nnewlines  and   spaces", "ÀÉÎÕÜ UPPER ÇASE", "a \u200b zero width", "",
]


def fixture_captions() -> list[str]:
    """The benchmark-style captions above + the COCO-style captions the test folders generate."""
    import tempfile
    from pathlib import Path

    from helpers.recipe_folder import shout

    with tempfile.TemporaryDirectory(prefix="ahnpl_export_hf_") as root:  # only the captions are kept
        folder = make_coco_folder(Path(root), n_train=4, n_val=2, n_test=2, captions_per_image=2)
        coco = [c for row in folder.train_rows for c in ([row["caption"]] if isinstance(row["caption"], str) else row["caption"])]
    return BENCHMARK_CAPTIONS + coco + [shout(c, k) for k, c in enumerate(coco)]


def tiny_model(quick_gelu: bool, seed: int = 13) -> AHNPLClip:
    torch.manual_seed(seed)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.quick_gelu = quick_gelu
    return AHNPLClip.from_config(cfg).eval()


def runner_checkpoint(model: AHNPLClip, path, provenance=None) -> None:
    config = {"run": {"task": "retrieval", "init_lr": 1e-6, "max_epoch": 5},
              "model": {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": "", "quick_gelu": model.uses_quick_gelu},
              "datasets": {"coco_ahnpl": {"negatives": "negatives/train.jsonl"}}}
    obj = {"model": model.state_dict(), "optimizer": {}, "config": config, "epoch": 4}
    if provenance:
        obj["provenance"] = provenance
    torch.save(obj, path)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A QuickGELU tiny model exported with --format hf (no card info)."""
    root = tmp_path_factory.mktemp("hf")
    model = tiny_model(quick_gelu=True)
    runner_checkpoint(model, root / "checkpoint_best.pth", provenance={"negatives_generator": "ahnpl-negatives 0.1"})
    assert main(["--checkpoint", str(root / "checkpoint_best.pth"), "--format", "hf", str(root / "out")]) == 0
    return model, root / "out"


def test_hf_folder_has_every_file_and_the_right_activation(exported):
    _, out = exported
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json",
            "special_tokens_map.json", "preprocessor_config.json", "README.md"} <= names
    assert not any(n.endswith((".bin", ".pt", ".pth")) for n in names)  # safetensors only
    config = json.loads((out / "config.json").read_text())
    assert config["text_config"]["hidden_act"] == config["vision_config"]["hidden_act"] == "quick_gelu"
    assert config["text_config"]["max_position_embeddings"] == 32 and config["vision_config"]["image_size"] == 32


def test_hf_features_equal_ours_and_folder_reloads_through_our_loader(exported):
    model, out = exported
    hf = CLIPModel.from_pretrained(out).eval()
    tokenizer = CLIPTokenizer.from_pretrained(out)
    captions = ["a red cube left of a blue ball", "two cats!", LONG]
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    batch = tokenizer(captions, padding="max_length", max_length=32, truncation=True, return_tensors="pt")
    with torch.no_grad():
        text = torch.nn.functional.normalize(hf.get_text_features(**batch), dim=-1)
        image = torch.nn.functional.normalize(hf.get_image_features(pixel_values=images), dim=-1)
        assert torch.allclose(text, model.encode_text(captions), atol=ATOL, rtol=0)
        assert torch.allclose(image, model.encode_image(images), atol=ATOL, rtol=0)
        assert torch.allclose(hf.logit_scale, model.logit_scale)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.pretrained = str(out)
    again = AHNPLClip.from_config(cfg).eval()
    assert again.uses_quick_gelu and again.weights_provenance["format"] == "hf_clip"
    with torch.no_grad():
        assert torch.allclose(again.encode_text(captions), model.encode_text(captions), atol=ATOL, rtol=0)


def test_exported_tokenizer_gives_our_ids_on_benchmark_captions(tmp_path, exported):
    _, out = exported
    write_tokenizer(str(tmp_path), 77)
    for folder, context in ((tmp_path, 77), (out, 32)):
        tokenizer = CLIPTokenizer.from_pretrained(folder)
        captions = fixture_captions()
        ours = tokenize(captions, context)
        batch = tokenizer(captions, padding="max_length", max_length=context, truncation=True, return_tensors="pt")
        ids, mask = batch["input_ids"], batch["attention_mask"].bool()
        for i, caption in enumerate(captions):
            n = int(mask[i].sum())
            assert ours[i, :n].tolist() == ids[i, :n].tolist(), caption
            assert (ours[i, n:] == 0).all() and (ids[i, n:] == 49407).all()  # padding: LAVIS 0, HF <|endoftext|>
    assert int(mask[captions.index(LONG)].sum()) == 32 and ids[captions.index(LONG), -1] == 49407


def _images():
    """PIL images of the shapes benchmarks have: landscape, portrait, square, odd sizes, upscaled, grey."""
    rng = np.random.default_rng(0)
    sizes = [(640, 480), (480, 640), (500, 375), (224, 224), (333, 500), (37, 50), (1024, 683)]
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    images.append(Image.fromarray(rng.integers(0, 256, (300, 400), dtype=np.uint8), mode="L"))
    return images


def test_exported_image_processor_equals_lavis_clip_image_eval(exported):
    """Max |difference| <= 1e-5 wherever torchvision and transformers crop at the same offset;
    a resized side L with (L - 224) % 4 == 3 is cropped one pixel apart: round((L-224)/2) vs
    (L-224)//2, and then equals LAVIS's pipeline with that offset exactly."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    ours = ClipImageEvalProcessor(image_size=224)
    hf_processor = image_processor(224)
    shifted = 0
    for image in _images():
        expected = ours(image)
        got = torch.from_numpy(hf_processor(image, return_tensors="np")["pixel_values"][0])
        resized = TF.resize(image, 224, interpolation=InterpolationMode.BICUBIC)
        w, h = resized.size
        if (w - 224) % 4 == 3 or (h - 224) % 4 == 3:
            shifted += 1
            crop = TF.crop(resized, (h - 224) // 2, (w - 224) // 2, 224, 224).convert("RGB")
            expected = ours.normalize(TF.to_tensor(crop))
        assert got.shape == expected.shape and (got - expected).abs().max() <= ATOL, image.size
    assert shifted == 1  # 1024x683 -> 335x224: the one size here that hits the difference
    _, out = exported
    saved = CLIPImageProcessor.from_pretrained(out)
    small = ClipImageEvalProcessor(image_size=32)
    image = _images()[0]
    got = torch.from_numpy(saved(image, return_tensors="np")["pixel_values"][0])
    assert (got - small(image)).abs().max() <= ATOL


def _sugarcrepe(tmp_path):
    """A SugarCrepe-layout folder (data/<file>.json keyed by id, COCO val2017 file names) with real images."""
    rng = np.random.default_rng(3)
    data, images = tmp_path / "sugar-crepe" / "data", tmp_path / "val2017"
    data.mkdir(parents=True)
    images.mkdir()
    pairs = {"replace_obj": [("a dog on a couch", "a cat on a couch")],
             "replace_att": [("a red bus on the street", "a blue bus on the street")],
             "replace_rel": [("a man riding a horse", "a man feeding a horse"), ("a cat under a table", "a cat on a table")],
             "swap_obj": [("a boy throws a ball to a dog", "a dog throws a ball to a boy")],
             "swap_att": [("a white dog and a black cat", "a black dog and a white cat")],
             "add_obj": [("a plate of food", "a plate of food and a fork"), ("two people skiing", "two people skiing with a dog")],
             "add_att": [("a kitchen with a stove", "a kitchen with a wooden stove")]}
    for stem, rows in pairs.items():
        records = {}
        for i, (caption, negative) in enumerate(rows):
            name = f"{rng.integers(10**11, 10**12):012d}.jpg"
            w, h = int(rng.integers(40, 90)), int(rng.integers(40, 90))
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(images / name, quality=95)
            records[str(i * 3)] = {"filename": name, "caption": caption, "negative_caption": negative}
        (data / f"{stem}.json").write_text(json.dumps(records))
    return benchmarks.load("sugarcrepe", tmp_path / "sugar-crepe", image_root=images)


@pytest.mark.slow  # cross-check: builds the model in transformers too
def test_a_benchmark_scores_the_same_through_transformers(tmp_path, exported):
    model, out = exported
    bench = _sugarcrepe(tmp_path)
    dataset = BenchmarkChoiceDataset(bench, ClipImageEvalProcessor(image_size=32))
    ours = CompositionalTask(progress=False).evaluate_dataset(model, dataset, batch_size=4)

    hf = CLIPModel.from_pretrained(out).eval()
    processor = CLIPProcessor.from_pretrained(out, use_fast=False)
    sims = []
    with torch.no_grad():
        for item in bench.items:
            inputs = processor(text=list(item.captions), images=[benchmarks.open_image(r) for r in item.images],
                               return_tensors="pt", padding=True)
            image = torch.nn.functional.normalize(hf.get_image_features(pixel_values=inputs["pixel_values"]), dim=-1)
            text = torch.nn.functional.normalize(
                hf.get_text_features(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]), dim=-1)
            sims.append((image @ text.T).numpy())
    theirs = bench.score(sims)
    ours = {k: v for k, v in ours.items() if k not in ("cells", "weights")}  # the task's additions to the scores
    assert theirs == ours and len(bench.items) == 9
    lavis = ClipImageEvalProcessor(image_size=32)
    with torch.no_grad():  # and the similarities themselves, item by item
        for item, their_sims in zip(bench.items, sims):
            image = model.encode_image(torch.stack([lavis(benchmarks.open_image(r)) for r in item.images]))
            assert np.abs((image @ model.encode_text(list(item.captions)).T).numpy() - their_sims).max() <= ATOL


@pytest.mark.slow  # cross-check: builds the model in open_clip too
def test_open_clip_hub_export_loads_in_open_clip_and_our_loader(tmp_path):
    model = tiny_model(quick_gelu=False, seed=17)
    runner_checkpoint(model, tmp_path / "ckpt.pth")
    out = tmp_path / "hub"
    assert main(["--checkpoint", str(tmp_path / "ckpt.pth"), "--format", "open_clip", str(out)]) == 0
    config = json.loads((out / "open_clip_config.json").read_text())
    assert config["model_cfg"]["quick_gelu"] is False and config["preprocess_cfg"]["interpolation"] == "bicubic"
    assert {p.name for p in out.iterdir()} == {"open_clip_config.json", "open_clip_model.safetensors", "README.md"}
    cfg = OmegaConf.load(AHNPLClip.default_config_path("tiny")).model
    cfg.pretrained = str(out)
    again = AHNPLClip.from_config(cfg).eval()  # no model.act needed: the folder says GELU
    captions = ["a red cube left of a blue ball", "two cats!"]
    assert not again.uses_quick_gelu and again.weights_provenance["format"] == "open_clip_hub"
    assert torch.allclose(again.encode_text(captions), model.encode_text(captions), atol=ATOL, rtol=0)
    import open_clip  # requirements/env.txt pins open_clip_torch for this cross-check
    other, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}")
    other.eval()
    tokens = open_clip.get_tokenizer(f"local-dir:{out}")(captions)
    image = Image.fromarray(np.random.default_rng(5).integers(0, 256, (48, 64, 3), dtype=np.uint8))
    with torch.no_grad():
        text = torch.nn.functional.normalize(other.encode_text(tokens), dim=-1)
        assert torch.allclose(text, model.encode_text(captions), atol=ATOL, rtol=0)
        pixels = preprocess(image).unsqueeze(0)
        assert (pixels[0] - ClipImageEvalProcessor(image_size=32)(image)).abs().max() <= ATOL
        feats = torch.nn.functional.normalize(other.encode_image(pixels), dim=-1)
        assert torch.allclose(feats, model.encode_image(pixels), atol=ATOL, rtol=0)


def test_model_card_fills_what_it_knows_and_marks_the_rest(exported, tmp_path):
    _, out = exported
    card = (out / "README.md").read_text()
    front = yaml.safe_load(card.split("---")[1])
    assert front["license"] == "unknown" and "base_model" not in front  # random init: no base to name
    missing = missing_fields(card)
    for what in ("licence", "base_model", "datasets", "compute", "contamination", "zero-shot", "evaluation table"):
        assert any(what in m for m in missing), what
    assert "negatives_generator: ahnpl-negatives 0.1" in card  # from the checkpoint's provenance
    assert '"init_lr": 1e-06' in card and "coco_ahnpl" in card  # the training config
    info = {"license": "mit", "datasets": ["yerevann/coco-karpathy"], "compute": "1x H100, 5 h",
            "negatives": "ahnpl-negatives 0.3, spaCy en_core_web_sm 3.8.0 (sha256 abc)",
            "contamination": "no benchmark image in COCO 2014 train", "zero_shot_retention": "ImageNet top-1 63.1 -> 62.8",
            "results": [{"benchmark": "SugarCrepe", "split": "replace-rel", "metric": "accuracy", "value": 80.4,
                         "protocol": "image-to-text, 1 of 2 captions, 224 px centre crop"}]}
    full = model_card(model_name="ahnpl-clip-vit-b-32", model_type="ViT-B-32", act="quick_gelu",
                      run_config={"model": {"pretrained": "openai"}}, provenance=None, info=info, formats="hf")
    front = yaml.safe_load(full.split("---")[1])
    assert front["base_model"] == "openai/clip-vit-base-patch32" and front["license"] == "mit"
    metric = front["model-index"][0]["results"][0]["metrics"][0]
    assert metric["value"] == 80.4 and metric["args"]["protocol"].startswith("image-to-text")
    assert TO_FILL not in full
    (tmp_path / "card.yaml").write_text(yaml.safe_dump({"results": [{"benchmark": "ARO", "value": 1}]}))
    model = tiny_model(quick_gelu=True)
    runner_checkpoint(model, tmp_path / "c.pth")
    assert main(["--checkpoint", str(tmp_path / "c.pth"), "--format", "hf", "--card-info", str(tmp_path / "card.yaml"),
                 str(tmp_path / "o")]) == 2


def test_rn50_has_no_hf_export_and_output_must_be_new(tmp_path, capsys, exported):
    _, out = exported
    model = tiny_model(quick_gelu=True)
    runner_checkpoint(model, tmp_path / "c.pth")
    assert main(["--checkpoint", str(tmp_path / "c.pth"), "--format", "hf", str(out)]) == 2
    assert "must be new or empty" in capsys.readouterr().err
    from ahnpl_plugin.errors import LayoutError
    from ahnpl_plugin.models.clip.hf_layout import hf_config_dict
    from ahnpl_plugin.models.clip.architectures import architecture

    with pytest.raises(LayoutError, match="ResNet"):
        hf_config_dict(architecture("RN50"), True, 4.6)


@pytest.mark.slow
def test_vit_b32_exports_to_hf_with_equal_features(tmp_path):
    """Random ViT-B-32 (QuickGELU, as OpenAI-initialised runs): 12 layers, 224 px, 77 tokens."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = OmegaConf.load(AHNPLClip.default_config_path("ViT-B-32")).model
    cfg.pretrained = ""
    model = AHNPLClip.from_config(cfg).eval()
    torch.save({"model": model.state_dict(), "config": {"model": {"arch": "ahnpl_clip", "model_type": "ViT-B-32",
                                                                  "pretrained": "openai"}}}, tmp_path / "c.pth")
    assert main(["--checkpoint", str(tmp_path / "c.pth"), "--format", "hf", str(tmp_path / "hf")]) == 0
    front = yaml.safe_load((tmp_path / "hf" / "README.md").read_text().split("---")[1])
    assert front["base_model"] == "openai/clip-vit-base-patch32"
    hf = CLIPModel.from_pretrained(tmp_path / "hf").eval()
    assert hf.config.text_config.hidden_act == "quick_gelu"
    captions = ["a man is sitting on a bench next to a bicycle", LONG]
    batch = CLIPTokenizer.from_pretrained(tmp_path / "hf")(captions, padding=True, truncation=True, return_tensors="pt")
    image = _images()[0]
    pixels = torch.from_numpy(CLIPImageProcessor.from_pretrained(tmp_path / "hf")(image, return_tensors="np")["pixel_values"])
    with torch.no_grad():
        text = torch.nn.functional.normalize(hf.get_text_features(**batch), dim=-1)
        assert torch.allclose(text, model.encode_text(captions), atol=ATOL, rtol=0)
        feats = torch.nn.functional.normalize(hf.get_image_features(pixel_values=pixels), dim=-1)
        assert torch.allclose(feats, model.encode_image(ClipImageEvalProcessor(224)(image)[None]), atol=ATOL, rtol=0)


def test_card_results_come_from_a_runs_results_json_with_protocol_interval_and_precision(tmp_path):
    """A results.json as lavis.evaluate writes it (split -> dataset -> scores with protocol cells)
    fills the card's model-index and table, each number with its protocol, interval and precision."""
    from ahnpl_plugin.model_card import read_card_info

    record = {
        "test": {
            "ahnpl_sugarcrepe": {"average": 0.75, "cells": {
                "sugarcrepe/add-pooled": {"protocol": "sugarcrepe/add-pooled", "value": 0.8, "low": 0.7, "high": 0.88,
                                          "n": 100, "complete": True, "method": "wilson", "incomplete_because": ""}}},
            "ahnpl_valse": {"cells": {
                "valse/pieces-mean": {"protocol": "valse/pieces-mean", "value": 0.6, "low": 0.55, "high": 0.65,
                                      "n": 900, "complete": False, "method": "bootstrap",
                                      "incomplete_because": "relations 0/535"}}},
            "agg_metrics": 0.7,
        },
        "eval_precision": "fp32",
        "provenance": {"device": "cpu"},
    }
    (tmp_path / "results.json").write_text(json.dumps(record))
    (tmp_path / "card.yaml").write_text(yaml.safe_dump({"results_json": [str(tmp_path / "results.json")]}))
    rows = read_card_info(str(tmp_path / "card.yaml"))["results"]
    assert [(r["benchmark"], r["metric"], r["value"]) for r in rows] == [
        ("sugarcrepe", "sugarcrepe/add-pooled", 80.0), ("valse", "valse/pieces-mean", 60.0)]
    assert "95% interval [70.0, 88.0]; n=100; evaluation precision fp32" in rows[0]["protocol"]
    assert rows[0]["protocol"].startswith("sugarcrepe/add-pooled: ")  # the protocol's own description
    assert rows[1]["protocol"].endswith("INCOMPLETE: relations 0/535")
    card = model_card(model_name="m", model_type="ViT-B-32", act="quick_gelu", run_config={}, formats="hf",
                      provenance={"files": {"/d/negatives/train.jsonl": {
                          "sha256": "ab12", "negatives_header": {"generator": "ahnpl-negatives", "rules": "v2"}}}},
                      info=read_card_info(str(tmp_path / "card.yaml")))
    assert '"rules": "v2"' in card and "sha256 ab12" in card  # the negatives' provenance from the runner's record
    assert yaml.safe_load(card.split("---")[1])["model-index"][0]["results"][1]["metrics"][0]["value"] == 60.0
