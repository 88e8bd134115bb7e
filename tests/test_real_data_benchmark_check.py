"""``python -m ahnpl_plugin.data check`` on benchmark configs: each ``ahnpl_<benchmark>`` builder's
``inspect`` validates the keys, loads the files (no image decoded) and reports items, missing
images and problems with their fixes, on the tiny layouts of tests/test_eval_suite.py."""

from __future__ import annotations

from pathlib import Path

import yaml
from PIL import Image

from test_eval_suite import SUGARCREPE_FILES, TINY, write_sugarcrepe, write_winoground

REPO = Path(__file__).resolve().parent.parent


def _inspect(name: str, cfg: dict):
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    from omegaconf import OmegaConf

    cls = registry.get_builder_class(name)
    full = OmegaConf.merge(OmegaConf.load(cls.DATASET_CONFIG_DICT["default"]).datasets[name], cfg)
    return cls.inspect(full)


def test_inspect_counts_items_and_names_each_group_with_skipped_items_as_a_problem(tmp_path):
    data, coco = write_sugarcrepe(tmp_path)
    report = _inspect("ahnpl_sugarcrepe", {"root": str(data), "image_root": str(coco),
                                           "options": {"files": SUGARCREPE_FILES}})
    assert report.title == "datasets.ahnpl_sugarcrepe"
    assert report.lines == [
        f"sugarcrepe: 5 items in {data}; images from {coco}",
        "4 items evaluable over 3 distinct images and 4 distinct captions",
        "note: ties count as wrong; replace/swap/add/average are micro averages",
    ]
    assert report.problems == [
        f"1 image file(s) missing (e.g. {coco / '000000000099.jpg'}), used by 1 of 5 items, which would be "
        "skipped (replace_att: 1 of 3): add the files or point datasets.ahnpl_sugarcrepe.image_root at their folder"]


def test_inspect_problems_name_the_file_key_and_fix(tmp_path):
    data, coco = write_sugarcrepe(tmp_path)
    base = {"root": str(data), "image_root": str(coco), "options": {"files": SUGARCREPE_FILES}}
    nowhere = _inspect("ahnpl_sugarcrepe", {**base, "image_root": str(tmp_path / "elsewhere")})
    assert nowhere.problems[0].startswith("4 image file(s) missing") and \
        "used by 5 of 5 items, which would be skipped (replace_att: 3 of 3; add_att: 1 of 1; swap_obj: 1 of 1)" \
        in nowhere.problems[0]
    (missing,) = _inspect("ahnpl_sugarcrepe", {**base, "options": {}}).problems
    assert missing.startswith("datasets.ahnpl_sugarcrepe: ") and "add_obj.json not found" in missing
    assert "Download it from github.com/RAIVNLab/sugar-crepe" in missing
    (unknown,) = _inspect("ahnpl_sugarcrepe", {**base, "imgs": "x"}).problems
    assert unknown.startswith("unknown key(s) ['imgs'] under datasets.ahnpl_sugarcrepe; valid:")
    (option,) = _inspect("ahnpl_sugarcrepe", {**base, "options": {"pieces": ["x"]}}).problems
    assert option == "unknown option(s) ['pieces'] under datasets.ahnpl_sugarcrepe.options; valid: ['files']"
    disabled = _inspect("ahnpl_sugarcrepe", {**base, "enabled": False})
    assert disabled.lines == ["left out of the run (enabled: false)"] and disabled.problems == []


def test_data_check_command_reports_every_benchmark_of_a_config(tmp_path, capsys):
    from ahnpl_plugin.data.cli import main

    data, coco = write_sugarcrepe(tmp_path)
    wino = write_winoground(tmp_path)
    cfg = tmp_path / "eval.yaml"
    cfg.write_text(yaml.safe_dump({
        "model": TINY,
        "datasets": {"ahnpl_sugarcrepe": {"root": str(data), "image_root": str(coco),
                                          "options": {"files": SUGARCREPE_FILES}},
                     "ahnpl_winoground": {"root": str(wino)}},
        "run": {"task": "ahnpl_compositional", "runner": "ahnpl_runner", "output_dir": str(tmp_path / "o"),
                "test_splits": ["test"]},
    }))
    (coco / "000000000099.jpg").parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4)).save(coco / "000000000099.jpg")  # the one image write_sugarcrepe leaves out
    assert main(["check", "--cfg-path", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "no checks" not in out
    assert "[datasets.ahnpl_sugarcrepe]\n  sugarcrepe: 5 items in" in out and "PROBLEM" not in out
    assert f"[datasets.ahnpl_winoground]\n  winoground: 2 items in {wino}; images from the default under root\n" \
           "  2 items evaluable over 2 distinct images and 4 distinct captions" in out
    assert out.rstrip().endswith("all paths OK")
    assert not (tmp_path / "o").exists()


def test_data_check_on_a_shipped_benchmark_config_without_data_names_the_file(tmp_path, monkeypatch, capsys):
    from ahnpl_plugin.data.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["check", "--cfg-path", str(REPO / "projects" / "ahnpl" / "eval_winoground.yaml"), "--options",
                 "model.model_type=tiny", "model.pretrained="]) == 1
    out = capsys.readouterr().out
    assert "[datasets.ahnpl_winoground]\n  PROBLEM: datasets.ahnpl_winoground: Winoground not found: expected" in out
    assert "Download it from huggingface.co/datasets/facebook/winoground" in out
