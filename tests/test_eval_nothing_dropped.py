"""Nothing dropped silently: the defects found on the released benchmark files, each in its real layout.

* VALSE's relations.json names its images' source ``"coco_2017"`` (plurals.json: ``"coco2017"``,
  foil-it.json: ``"FOIL dataset"``); the shipped configs must send both COCO spellings to val2017,
  and ``data check`` must fail naming every piece with skipped items and how many.
* VL-CheckList: every missing annotation file is listed; the present corpora still load.
* The suite runs the benchmarks that are present and lists the absent ones (``run.strict: true``:
  all or nothing); ``enabled: false`` leaves one out from ``--options``.
* A 0-byte image: one line naming the file, from ``data check`` and from evaluation with
  DataLoader workers.

Keys, file names and ``dataset`` values copy the released files (github.com/Heidelberg-NLP/VALSE
data/, github.com/om-ai-lab/VL-CheckList corpus/v1 and data/).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks

REPO = Path(__file__).resolve().parent.parent
TINY = {"arch": "ahnpl_clip", "model_type": "tiny", "pretrained": ""}


def _jpg(path: Path, colour=(90, 90, 90)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)


# ----------------------------------------------------------------------------------------- VALSE
# piece -> (the "dataset" value of the released file, its keys and image files; folder under data/)
VALSE_PIECES = {
    "plurals": ("coco2017", [("plurals:coco2017:308510", "000000291619.jpg")], "coco/images/val2017"),
    "relations": ("coco_2017", [("relations:coco_2017:212732", "000000462576.jpg"),
                                ("relations:coco_2017:528685", "000000528685.jpg")], "coco/images/val2017"),
    "foil-it": ("FOIL dataset", [("1283539", "COCO_val2014_000000165831.jpg")], "coco/images/val2014"),
    "existence": ("visual7w", [("existence_visual7w_2371044", "v7w_2371044.jpg")], "visual7w/images"),
    "actant-swap": ("SWiG", [("actions_test_0", "exercising_255.jpg")], "swig/images"),
    "coreference-hard": ("VisDial_v1.0", [("coref_test_0", "VisualDialog_val2018_000000284024.jpg")],
                         "visdial/VisualDialog_val2018"),
}


def write_valse(cwd: Path, *, relation_images: bool = True) -> None:
    """data/valse/<piece>.json for VALSE_PIECES (validated items: mturk.caption 3) and the images
    where the shipped eval_valse.yaml looks for them; the other five pieces hold no item."""
    from ahnpl_plugin.benchmarks.valse import PIECES

    (cwd / "data" / "valse").mkdir(parents=True, exist_ok=True)
    for piece in PIECES:
        source, entries, folder = VALSE_PIECES.get(piece, ("visual7w", [], "visual7w/images"))
        records = {}
        for key, image_file in entries:
            records[key] = {"dataset": source, "original_split": "val", "image_file": image_file,
                            "linguistic_phenomena": piece, "caption": f"a caption of {key}",
                            "foil": f"a foil of {key}", "classes": "on", "classes_foil": "off",
                            "mturk": {"foil": 0, "caption": 3, "other": 0}}
            if piece != "relations" or relation_images:
                _jpg(cwd / "data" / folder / image_file)
        (cwd / "data" / "valse" / f"{piece}.json").write_text(json.dumps(records))


def _check(cfg_path: Path, *options: str) -> int:
    from ahnpl_plugin.data.cli import main

    return main(["check", "--cfg-path", str(cfg_path), "--options", "model.model_type=tiny",
                 "model.pretrained=", *options])


def test_shipped_valse_config_sends_both_coco2017_spellings_to_val2017(tmp_path, monkeypatch, capsys):
    from ahnpl_plugin import register
    from ahnpl_plugin.benchmarks.valse import source_key

    register()
    monkeypatch.chdir(tmp_path)
    write_valse(tmp_path)
    config = "eval_valse.yaml"
    cfg = yaml.safe_load((REPO / "projects" / "ahnpl" / config).read_text())
    roots = cfg["datasets"]["ahnpl_valse"]["image_root"]
    bench = benchmarks.load("valse", "data/valse", image_root=roots)
    assert len(bench.items) == 7 and not bench.skipped_items and bench.complete
    by_id = {it.meta["id"]: it.images[0].path for it in bench.items}
    assert by_id["relations:coco_2017:212732"] == "data/coco/images/val2017/000000462576.jpg"
    assert by_id["1283539"] == "data/coco/images/val2014/COCO_val2014_000000165831.jpg"
    assert source_key("coco_2017") == source_key("COCO2017") == "coco2017"
    assert source_key("VisDial_v1.0") == "visdialv10" and source_key("FOIL dataset") == "foildataset"
    assert main_check(tmp_path, config) == 0
    assert capsys.readouterr().out.rstrip().endswith("all paths OK")


def main_check(cwd: Path, config: str, *options: str) -> int:
    return _check(REPO / "projects" / "ahnpl" / config, f"run.output_dir={cwd}/o", *options)


def test_data_check_fails_naming_every_piece_with_skipped_items(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    write_valse(tmp_path, relation_images=False)
    assert main_check(tmp_path, "eval_valse.yaml") == 1
    out = capsys.readouterr().out
    assert "all paths OK" not in out
    (problem,) = [line for line in out.splitlines() if "PROBLEM" in line]
    assert "2 image file(s) missing" in problem and "used by 2 of 7 items, which would be skipped" in problem
    assert "(relations: 2 of 2)" in problem and "000000462576.jpg" in problem


def test_data_check_says_which_sources_fall_back_to_the_default_folder(tmp_path, monkeypatch, capsys):
    """The mapping of the old configs (coco2017 only, no FOIL entry, spelt exactly): with exact
    matching relations' "coco_2017" would fall to default silently; now it is matched, and the
    sources that do use "default" are named."""
    monkeypatch.chdir(tmp_path)
    write_valse(tmp_path)
    old_mapping = {"visual7w": "data/visual7w/images", "SWiG": "data/swig/images",
                   "VisDial_v1.0": ["data/coco/images/train2014", "data/visdial/VisualDialog_val2018"],
                   "coco2017": "data/coco/images/val2017", "default": "data/coco/images/val2014"}
    cfg = _write_cfg(tmp_path, {"ahnpl_valse": {"root": "data/valse", "image_root": old_mapping}})
    assert _check(cfg) == 0
    out = capsys.readouterr().out
    assert "note: image_root names no folder for source(s) 'FOIL dataset' (1 items): their images are looked up " \
           "in the 'default' folder" in out


def test_valse_mapping_that_names_one_source_twice_is_an_error(tmp_path):
    write_valse(tmp_path)
    with pytest.raises(benchmarks.BenchmarkError, match=r"'coco2017' and 'coco_2017'.*keep one"):
        benchmarks.load("valse", tmp_path / "data" / "valse",
                        image_root={"coco2017": "a", "coco_2017": "b", "default": "c"})


def test_incomplete_valse_score_says_which_piece_lost_what(tmp_path):
    import numpy as np

    write_valse(tmp_path, relation_images=False)
    bench = benchmarks.load("valse", tmp_path / "data" / "valse",
                            image_root={"coco2017": tmp_path / "data/coco/images/val2017",
                                        "visual7w": tmp_path / "data/visual7w/images",
                                        "swig": tmp_path / "data/swig/images",
                                        "visdial_v1.0": tmp_path / "data/visdial/VisualDialog_val2018",
                                        "default": tmp_path / "data/coco/images/val2014"})
    assert not bench.complete
    assert bench.skipped_by_group() == {"relations": (2, 2)}
    assert bench.incompleteness() == ["relations: 2 of 2 items skipped (image files missing)"]
    scores = bench.score([np.array([[0.9, 0.1]])] * len(bench.items))
    assert scores["counts"]["skipped_by_group"] == {"relations": 2}
    assert "relations" not in scores and scores["average"] == 1.0


# ---------------------------------------------------------------------------------- VL-CheckList
VLC = {  # corpus yaml under corpus/v1 -> ANNO_PATH (as in the repository), IMG_ROOT
    "Attribute/color/vaw.yaml": ("data/Attribute/vaw/color.json", "vg/"),
    "Attribute/material/vg.yaml": ("data/Attribute/vg/material.json", "vg/"),
    "Object/Location/center/hake.yaml": ("data/Object/Location/hake_location/hake_obj_center.json", "hake/"),
    "Relation/action/swig.yaml": ("data/Relation/swig_action.json", "swig/"),
}


def write_vl_checklist(root: Path, images: Path, absent=()) -> None:
    for corpus, (anno, img_root) in VLC.items():
        yaml_path = root / "corpus" / "v1" / corpus
        yaml_path.parent.mkdir(parents=True, exist_ok=True)
        yaml_path.write_text(f'ANNO_PATH: "{anno}"\nIMG_ROOT: "{img_root}"\nTYPE: "TUPLE_JSON"\n')
        if corpus in absent:
            continue
        rel = f"VG_100K/{abs(hash(corpus)) % 10**7}.jpg"
        _jpg(images / img_root / rel)
        (root / anno).parent.mkdir(parents=True, exist_ok=True)
        (root / anno).write_text(json.dumps([[rel, {"POS": ["a red car"], "NEG": ["a blue car"]}]]))


def test_vl_checklist_lists_every_missing_annotation_file_and_runs_the_present_corpora(tmp_path):
    root, images = tmp_path / "VL-CheckList", tmp_path / "images"
    absent = ("Attribute/material/vg.yaml", "Relation/action/swig.yaml")
    write_vl_checklist(root, images, absent)
    bench = benchmarks.load("vl_checklist", root, image_root=images)
    assert sorted({it.group for it in bench.items}) == ["attribute/color/vaw", "object/location/center/hake"]
    assert list(bench.missing_parts) == ["attribute/material/vg", "relation/action/swig"]
    assert str(root / "data/Relation/swig_action.json") in bench.missing_parts["relation/action/swig"]
    assert not bench.complete
    import numpy as np

    scores = bench.score([np.array([[0.9, 0.1]])] * 2)
    assert scores["counts"]["n_items"] == 2 and scores["counts"]["n_missing_parts"] == 2
    assert any(n.startswith("relation/action/swig not evaluated: expected ") for n in scores["notes"])
    from ahnpl_plugin.benchmarks.cells import model_cells
    from ahnpl_plugin.benchmarks.protocols import benchmark_outcomes

    cells = model_cells({"vl_checklist": benchmark_outcomes(bench, [np.array([[0.9, 0.1]])] * 2)})
    average = cells["vl_checklist/subcategories-mean"]
    assert average.value == 1.0 and not average.complete and average.n == 2
    assert average.incomplete_because == (
        "no attribute/action/*, no attribute/size/*, no attribute/state/*, no object/size/*, no relation/spatial/*; "
        "not found: attribute/material/vg, relation/action/swig").replace(", no", "; no")
    assert average.render().startswith("100.0 [") and " incomplete: no attribute/action/*" in average.render()

    with pytest.raises(benchmarks.BenchmarkFileNotFoundError) as err:
        benchmarks.load("vl_checklist", root, image_root=images, strict=True)
    text = str(err.value)
    assert "2 of 4 annotation file(s) not found" in text
    assert str(root / "data/Attribute/vg/material.json") in text and str(root / "data/Relation/swig_action.json") in text

    for corpus, (anno, _) in VLC.items():
        (root / anno).unlink(missing_ok=True)
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match=r"4 of 4 annotation file\(s\) not found"):
        benchmarks.load("vl_checklist", root, image_root=images)


def test_data_check_names_each_missing_vl_checklist_file(tmp_path, capsys):
    root, images = tmp_path / "VL-CheckList", tmp_path / "images"
    write_vl_checklist(root, images, ("Attribute/material/vg.yaml", "Relation/action/swig.yaml"))
    cfg = _write_cfg(tmp_path, {"ahnpl_vl_checklist": {"root": str(root), "image_root": str(images)}})
    assert _check(cfg) == 1
    problems = [line for line in capsys.readouterr().out.splitlines() if "PROBLEM" in line]
    assert len(problems) == 2
    assert "part attribute/material/vg missing, expected " in problems[0]
    assert "data/Relation/swig_action.json" in problems[1]


# ----------------------------------------------------------------------------- the suite as a whole
def write_sugarcrepe(cwd: Path, empty_image: bool = False) -> tuple[Path, Path]:
    """Two released-format SugarCrepe files (swap_obj keeps the real gap: no "108")."""
    data, images = cwd / "sugarcrepe", cwd / "coco" / "val2017"
    _jpg(images / "000000397133.jpg", (200, 20, 20))
    _jpg(images / "000000037777.jpg", (20, 200, 20))
    if empty_image:
        (images / "000000037777.jpg").write_bytes(b"")
    data.mkdir(parents=True, exist_ok=True)
    (data / "swap_obj.json").write_text(json.dumps({
        "107": {"filename": "000000397133.jpg", "caption": "a man holds a dog", "negative_caption": "a dog holds a man"},
        "109": {"filename": "000000037777.jpg", "caption": "a cup on a plate", "negative_caption": "a plate on a cup"},
    }))
    (data / "add_att.json").write_text(json.dumps({
        "0": {"filename": "000000397133.jpg", "caption": "a man", "negative_caption": "a tall man"}}))
    return data, images


def _write_cfg(tmp_path: Path, datasets: dict, **run) -> Path:
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": TINY, "datasets": datasets,
        "run": {"task": "ahnpl_compositional", "runner": "ahnpl_runner", "device": "cpu", "batch_size_eval": 2,
                "num_workers": 0, "output_dir": str(tmp_path / "o"), "test_splits": ["test"], "progress": False,
                **run},
    }))
    return cfg


def _suite_cfg(tmp_path: Path, **run) -> Path:
    data, images = write_sugarcrepe(tmp_path)
    return _write_cfg(tmp_path, {
        "ahnpl_sugarcrepe": {"root": str(data), "image_root": str(images), "options": {"files": ["swap_obj", "add_att"]}},
        "ahnpl_winoground": {"root": str(tmp_path / "winoground")},  # absent
        "ahnpl_valse": {"root": str(tmp_path / "valse"), "image_root": str(tmp_path)},  # absent
    }, **run)


def _build_suite(cfg_path: Path, *options: str):
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry

    from ahnpl_plugin.config import load_config

    cfg = load_config(str(cfg_path), list(options))
    task = registry.get_task_class("ahnpl_compositional").setup_task(cfg=cfg)
    return task, task.build_datasets(cfg)


def test_suite_runs_the_present_benchmarks_and_lists_the_absent_ones(tmp_path):
    task, datasets = _build_suite(_suite_cfg(tmp_path))
    assert list(datasets) == ["ahnpl_sugarcrepe"]
    assert sorted(task.not_evaluated) == ["ahnpl_valse", "ahnpl_winoground"]
    assert "Download it from huggingface.co/datasets/facebook/winoground" in task.not_evaluated["ahnpl_winoground"]
    assert "existence.json not found" in task.not_evaluated["ahnpl_valse"]
    assert "github.com/Heidelberg-NLP/VALSE" in task.not_evaluated["ahnpl_valse"]


def test_suite_strict_is_all_or_nothing_and_enabled_false_leaves_one_out(tmp_path):
    from ahnpl_plugin.errors import BenchmarkMissingError
    from ahnpl_plugin.errors import ConfigError

    cfg = _suite_cfg(tmp_path)
    with pytest.raises(BenchmarkMissingError) as err:
        _build_suite(cfg, "run.strict=true")
    assert str(err.value).startswith("run.strict: 2 dataset(s) of the config cannot be evaluated: datasets.ahnpl_")
    assert "Winoground not found" in str(err.value) and "existence.json not found" in str(err.value)
    task, datasets = _build_suite(cfg, "run.strict=true", "datasets.ahnpl_winoground.enabled=false",
                                  "datasets.ahnpl_valse.enabled=false")
    assert list(datasets) == ["ahnpl_sugarcrepe"]
    assert task.not_evaluated == {"ahnpl_winoground": "enabled: false", "ahnpl_valse": "enabled: false"}
    with pytest.raises(ConfigError, match=r"run\.strict: expected true or false"):
        _build_suite(cfg, "run.strict=maybe")
    with pytest.raises(ConfigError, match=r"none of the 3 datasets of the config can be evaluated"):
        _build_suite(cfg, "datasets.ahnpl_sugarcrepe.root=nowhere")


# ------------------------------------------------------------------------------- unreadable images
def test_data_check_names_an_empty_image_file(tmp_path, capsys):
    data, images = write_sugarcrepe(tmp_path, empty_image=True)
    cfg = _write_cfg(tmp_path, {"ahnpl_sugarcrepe": {"root": str(data), "image_root": str(images),
                                                     "options": {"files": ["swap_obj", "add_att"]}}})
    assert _check(cfg) == 1
    problems = [line.strip() for line in capsys.readouterr().out.splitlines() if "PROBLEM" in line]
    assert problems == [f"PROBLEM: cannot read image {images / '000000037777.jpg'}: the file is empty (0 bytes)"]


@pytest.mark.parametrize("num_workers", [0, pytest.param(1, marks=pytest.mark.slow)])  # 1: a worker process
def test_evaluation_names_an_unreadable_image_in_one_line(num_workers, tmp_path):
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.errors import UnreadableImageError
    from ahnpl_plugin.tasks.compositional import CompositionalTask

    data, images = write_sugarcrepe(tmp_path, empty_image=True)
    cls = registry.get_builder_class("ahnpl_sugarcrepe")
    cfg = OmegaConf.merge(OmegaConf.load(cls.DATASET_CONFIG_DICT["default"]).datasets["ahnpl_sugarcrepe"],
                          {"root": str(data), "image_root": str(images), "options": {"files": ["swap_obj"]},
                           "vis_processor": {"eval": {"name": "clip_image_eval", "image_size": 32}}})
    dataset = cls(cfg).build_datasets()["test"]
    model = registry.get_model_class("ahnpl_clip").from_config(OmegaConf.create(TINY)).eval()
    with pytest.raises(UnreadableImageError) as err:
        CompositionalTask(progress=False).evaluate_dataset(model, dataset, batch_size=2, num_workers=num_workers)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message and "worker" not in message
    assert message.startswith(f"cannot read image {images / '000000037777.jpg'}: ")


# ------------------------------------------------------------------------------- end to end (CLI)
@pytest.mark.slow
def test_python_m_lavis_evaluate_runs_what_is_present_and_reports_it(tmp_path):
    import subprocess
    import sys

    cfg = _suite_cfg(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "lavis.evaluate", "--cfg-path", str(cfg)], capture_output=True,
                          text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = list((tmp_path / "o").iterdir())
    page = (run_dir / "results.md").read_text()
    assert "**Weights and model selection.** ahnpl_clip tiny with pretrained weights none" in page
    assert "## By protocol (95% intervals" in page
    assert "compositional_vs_zero_shot.png" not in page  # no ARO/VALSE/...: no compositional average
    assert "No plot of compositional average vs zero-shot retention: the average over the 5 benchmarks shared with vl_compo is incomplete (1/5 members; sugarcrepe/families-mean incomplete)." in page
    assert "| Model | sugarcrepe/replace-pooled | sugarcrepe/swap-pooled |" in page
    assert "## Not evaluated\n\n- ahnpl_valse: datasets.ahnpl_valse: VALSE file existence.json not found" in page
    assert "- ahnpl_winoground: datasets.ahnpl_winoground: Winoground not found" in page
    assert ("| sugarcrepe | 3 | 0 | 7,511 | 7,512 | swap_obj.json as released has 245 items (id 108 was "
            "removed upstream); the papers print 246 |") in page
    items = json.loads((run_dir / "result" / "test_epocheval.items.json").read_text())["sugarcrepe"]
    assert sorted(items["ids"]) == ["add_att/0", "swap_obj/107", "swap_obj/109"]
    results = json.loads((run_dir / "results.json").read_text())["test"]
    cell = results["cells"]["sugarcrepe/swap_obj"]
    assert cell["n"] == 2 and cell["method"] == "wilson" and cell["complete"] is True
    assert cell["value"] in (0.0, 0.5, 1.0) and cell["low"] <= cell["value"] <= cell["high"]
    assert results["cells"]["sugarcrepe/replace-pooled"]["value"] is None
    print(page)


@pytest.mark.slow  # a DataLoader worker process and a tiny BLIP
def test_itm_route_names_an_unreadable_image_in_one_line(tmp_path):
    """BLIP's ITM scoring reads images through its own DataLoader pass: same one line."""
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    from ahnpl_plugin.datasets.benchmark_builders import open_benchmark_image
    from ahnpl_plugin.errors import UnreadableImageError
    from ahnpl_plugin.datasets.choice_eval import ChoiceEvalDataset
    from ahnpl_plugin.tasks.compositional import CompositionalTask

    good, empty = tmp_path / "good.jpg", tmp_path / "empty.jpg"
    _jpg(good)
    empty.write_bytes(b"")
    items = [{"images": [str(p)], "captions": ["a dog", "a cat"], "label": 0, "category": "x"} for p in (good, empty)]
    processor = registry.get_processor_class("blip_image_eval")(image_size=32)
    dataset = ChoiceEvalDataset(items, processor, lambda sims: {"average": 0.0}, open_benchmark_image)
    cls = registry.get_model_class("ahnpl_blip")
    model = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model).eval()
    model.scoring = "itm"
    with pytest.raises(UnreadableImageError) as err:
        CompositionalTask(progress=False).evaluate_dataset(model, dataset, batch_size=1, num_workers=1)
    assert str(err.value).startswith(f"cannot read image {empty}: ") and "\n" not in str(err.value)
