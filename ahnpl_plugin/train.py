"""``python -m lavis.train`` / ``python -m ahnpl_plugin.train`` / ``ahnpl-train``.

Same flow as LAVIS's repository-root train.py (which the wheel does not install), with the plugin
registered first, the config fixes of :mod:`ahnpl_plugin.config`, CPU/gloo distributed support,
and the model built before the datasets so that a missing weights file fails in seconds.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ahnpl_plugin.errors import UserError


TRAIN_DESCRIPTION = "Train a model through LAVIS with the AHNPL plugin (a new run folder under run.output_dir)."
TRAIN_EXAMPLE = "run.max_epoch=1 model.model_type=ViT-B-32"


def build_parser(prog="python -m lavis.train", description=TRAIN_DESCRIPTION, example=TRAIN_EXAMPLE):
    from ahnpl_plugin.cli_text import command

    parser = argparse.ArgumentParser(prog=command(prog), description=description)
    parser.add_argument(
        "--cfg-path", required=True, metavar="CONFIG",
        help="the YAML config: a path, or the name of a shipped project config (e.g. demo, coco, eval_all: "
             "found in projects/ahnpl/ from any folder)",
    )
    parser.add_argument(
        "--options", nargs="+", default=[], metavar="KEY=VALUE",
        help=f"override settings of the YAML (e.g. {example})",
    )
    return parser


def parse_args(argv=None, **parser_kwargs):
    return build_parser(**parser_kwargs).parse_args(argv)


def build_runner(args, evaluate_only: bool = False):
    """Register the plugin, load the config, set up the process, and build the runner."""
    from ahnpl_plugin import register

    register()
    from lavis.common.registry import registry
    import lavis.tasks as tasks

    from ahnpl_plugin import launch
    from ahnpl_plugin.config import fetch_stock_clip_weights, load_config

    launch.setup_logging()
    cfg = load_config(args.cfg_path, args.options)
    fetch_stock_clip_weights(cfg.model_cfg)
    from ahnpl_plugin.datasets.preflight import check_dataset_paths

    check_dataset_paths(cfg)  # missing data paths fail before the model is built
    if evaluate_only:
        cfg.run_cfg.evaluate = True
        _build_from_evaluated_checkpoint(cfg)
    launch.init_distributed(cfg.run_cfg)
    launch.seed_everything(int(cfg.run_cfg.get("seed", 42)) + int(cfg.run_cfg.rank))
    cfg.pretty_print()

    task = tasks.setup_task(cfg)
    model = task.build_model(cfg)  # before data: missing weights fail fast
    datasets = task.build_datasets(cfg)
    job_id = launch.new_job_id(cfg.run_cfg.get("job_name"))
    runner_name = cfg.run_cfg.get("runner", "ahnpl_runner")
    runner_cls = registry.get_runner_class(runner_name)
    if runner_cls is None:
        from ahnpl_plugin.errors import unknown_choice

        raise unknown_choice("run.runner", runner_name, registry.mapping["runner_name_mapping"])
    return runner_cls(cfg=cfg, job_id=job_id, task=task, model=model, datasets=datasets)


def _build_from_evaluated_checkpoint(cfg) -> None:
    """Evaluating ``run.checkpoint`` (a runner checkpoint: it holds every weight and its config):
    build the model from that file instead of first loading the base model's pretrained weights
    (which may not be on this machine), after checking it was saved from this arch and model type."""
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.models.checkpoint_info import checkpoint_model

    ckpt = cfg.run_cfg.get("checkpoint") or cfg.run_cfg.get("resume_ckpt_path")
    if not ckpt:
        return
    path = Path(str(ckpt)).expanduser()
    if not path.is_file():
        raise ConfigError(f"run.checkpoint: checkpoint not found: {ckpt}")
    from ahnpl_plugin.runner import _load_safely

    stored = _load_safely(path, mmap=True)
    arch, model_type = checkpoint_model(stored)
    if not (isinstance(stored, dict) and "model" in stored and arch and model_type):
        return  # not a runner checkpoint: the model is built as configured, then loads it
    model = cfg.model_cfg
    if (arch, model_type) != (model.get("arch"), model.get("model_type")):
        raise ConfigError(
            f"{path} was saved from {arch} {model_type}; this model is {model.get('arch')} {model.get('model_type')}. "
            f"To evaluate it, set model.arch={arch} model.model_type={model_type}"
        )
    model.load_finetuned, model.finetuned = True, str(path)
    logging.info("evaluating %s: the model is built from it (no pretrained weights are loaded)", path)


def run_cli(main_fn, argv=None) -> int:
    """Turn user errors into one line on stderr and exit code 2 (no traceback)."""
    try:
        main_fn(argv)
    except UserError as exc:
        logging.getLogger(__name__).debug("user error", exc_info=True)
        _log_fatal(f"error: {exc}")
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a crash: its traceback goes into train.log too, then as usual
        _log_fatal(f"fatal: {type(exc).__name__}: {exc}", exc_info=sys.exc_info())
        raise
    return 0


def _log_fatal(message: str, exc_info=None) -> None:
    launch = sys.modules.get("ahnpl_plugin.launch")  # loaded once a run has started
    if launch is not None:
        launch.log_fatal(message, exc_info)


def _train(argv=None):
    runner = build_runner(parse_args(argv))
    runner.train()
    return runner


def main(argv=None) -> int:
    return run_cli(_train, argv)


if __name__ == "__main__":
    sys.exit(main())
