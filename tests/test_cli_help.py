"""Help that guides: usage lines show the commands users type, every option says what it is for,
no raw reST markup, evaluate's help is about evaluation; config files are found by name from any
folder, and a missing one says where it was looked for; one cache for the synthetic world."""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

COMMANDS = {  # module with main(argv) -> the usage prefix
    "ahnpl_plugin.train": "usage: python -m lavis.train ",
    "ahnpl_plugin.evaluate": "usage: python -m lavis.evaluate ",
    "ahnpl_plugin.demo": "usage: python -m ahnpl_plugin.demo ",
    "ahnpl_plugin.data.cli": "usage: python -m ahnpl_plugin.data ",
    "ahnpl_plugin.export": "usage: python -m ahnpl_plugin.export ",
    "ahnpl_plugin.negatives.cli": "usage: python -m ahnpl_plugin.negatives ",
    "ahnpl_plugin.compare": "usage: python -m ahnpl_plugin.compare ",
}
PERF_SCRIPTS = ["eval_throughput", "loader_throughput", "negatives_throughput", "step", "readme_numbers"]


def _help(main, argv, capsys, monkeypatch) -> str:
    monkeypatch.setattr(sys, "argv", ["prog", *argv])
    with pytest.raises(SystemExit) as done:
        main(argv) if main.__code__.co_argcount else main()
    assert done.value.code == 0
    return capsys.readouterr().out


def undocumented(help_text: str) -> list[str]:
    """Options listed in an argparse help without a description (neither on their line nor on the
    indented line after)."""
    lines = help_text.splitlines()
    missing = []
    for i, line in enumerate(lines):
        match = re.match(r"^  (-[^ ].*?|[A-Za-z][\w.-]*)(\s{2,}\S.*)?$", line)
        if not match or line.startswith("  {"):
            continue
        if match.group(2):
            continue
        following = lines[i + 1] if i + 1 < len(lines) else ""
        if not re.match(r"^\s{10,}\S", following):
            missing.append(match.group(1))
    return missing


@pytest.mark.parametrize("module, usage", sorted(COMMANDS.items()))
def test_usage_line_names_the_command_and_every_option_has_help(module, usage, capsys, monkeypatch):
    text = _help(importlib.import_module(module).main, ["--help"], capsys, monkeypatch)
    assert text.startswith(usage), text.splitlines()[0]
    assert "``" not in text and ":func:" not in text and ":class:" not in text
    assert undocumented(text) == []


def test_undocumented_finds_an_option_without_help():
    text = "options:\n  -h, --help  show this\n  --items ITEMS\n  --workers WORKERS  DataLoader workers\n"
    assert undocumented(text) == ["--items ITEMS"]


def test_evaluate_help_is_about_evaluating_a_checkpoint(capsys, monkeypatch):
    from ahnpl_plugin.evaluate import main

    text = " ".join(_help(main, ["--help"], capsys, monkeypatch).split())
    assert "run.checkpoint=" in text and "checkpoint_best.pth" in text
    assert "run.max_epoch" not in text


def test_data_check_help_has_no_markup(capsys, monkeypatch):
    from ahnpl_plugin.data.cli import main

    text = _help(main, ["check", "--help"], capsys, monkeypatch)
    assert "``" not in text and undocumented(text) == []


@pytest.mark.parametrize("name", PERF_SCRIPTS)
def test_perf_script_flags_have_help(name, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "perf" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    text = _help(module.main, ["--help"], capsys, monkeypatch)
    assert undocumented(text) == []


# ------------------------------------------------------------------------------ paths
@pytest.mark.parametrize("given", ["demo", "demo.yaml", "projects/ahnpl/demo.yaml"])
def test_project_configs_are_found_by_name_from_any_folder(given, tmp_path, monkeypatch, lavis_ready):
    from ahnpl_plugin.config import load_config

    monkeypatch.chdir(tmp_path)  # outside the repository
    cfg = load_config(given)
    assert cfg.model_cfg.model_type == "tiny" and cfg.run_cfg.output_dir == str(tmp_path / "output" / "demo")


def test_a_missing_config_says_where_it_looked_and_lists_the_shipped_names(tmp_path, monkeypatch, lavis_ready):
    from ahnpl_plugin.config import load_config
    from ahnpl_plugin.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        load_config("projects/ahnpl/dmeo.yaml")
    message = str(info.value)
    assert message.startswith(f"config file not found: projects/ahnpl/dmeo.yaml (looked at "
                              f"{tmp_path / 'projects' / 'ahnpl' / 'dmeo.yaml'}, {REPO / 'projects' / 'ahnpl' / 'dmeo.yaml'})")
    assert "shipped config: " in message and "demo, demo_clip" in message and "\n" not in message


def test_output_root_is_configurable(tmp_path, monkeypatch, lavis_ready):
    from ahnpl_plugin.config import load_config

    monkeypatch.setenv("AHNPL_OUTPUT_ROOT", str(tmp_path / "runs"))
    assert load_config("demo").run_cfg.output_dir == str(tmp_path / "runs" / "output" / "demo")
    absolute = load_config("demo", [f"run.output_dir={tmp_path / 'abs'}"]).run_cfg.output_dir
    assert absolute == str(tmp_path / "abs")


def test_the_world_cache_is_one_configurable_place_not_the_working_directory(tmp_path, monkeypatch):
    from ahnpl_plugin.datasets.synthetic_world_builder import world_cache_dir
    from ahnpl_plugin.paths import cache_root
    from ahnpl_plugin.synthetic import WorldConfig

    monkeypatch.delenv("AHNPL_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "ahnpl"
    monkeypatch.setenv("AHNPL_CACHE_DIR", str(tmp_path / "cache"))
    small, other = WorldConfig(n_train=16), WorldConfig(n_train=32)
    monkeypatch.chdir(tmp_path)
    here = world_cache_dir(None, small)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert world_cache_dir(None, small) == here  # the same world from any folder
    assert here.parent == tmp_path / "cache" / "synthetic_world"
    assert world_cache_dir(None, other) != here  # another config never replaces it
    assert world_cache_dir("my_world", small) == tmp_path / "elsewhere" / "my_world"  # explicit: as given
