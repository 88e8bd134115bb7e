"""Building LAVIS's ``Config`` with the plugin's fixes.

LAVIS 1.0.2 merges: the user's ``run`` + the model type's default YAML overridden by the user's
``model:`` + each builder's default YAML overridden by ``datasets.<name>:`` + ``--options`` last.
Fixed here:

* ``--options model.model_type=X`` keeps X's value but loads the *old* type's defaults
  (lavis/common/config.py:64); we load X's defaults.
* Unknown model architectures, model types, dataset names and ``run`` keys raise a
  :class:`ConfigError` listing the valid ones (LAVIS asserts or fails later with a KeyError).
* ``run.output_dir`` is resolved against the working directory (LAVIS: under site-packages/lavis).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.paths import resolve_user_path

# Every `run:` key the plugin's runner and entry points understand (LAVIS's plus ours).
RUN_KEYS = {
    # LAVIS's own
    "task", "runner", "lr_sched", "init_lr", "min_lr", "warmup_lr", "warmup_steps", "lr_decay_rate",
    "weight_decay", "max_epoch", "batch_size_train", "batch_size_eval", "num_workers", "seed",
    "output_dir", "amp", "resume_ckpt_path", "evaluate", "train_splits", "valid_splits",
    "test_splits", "device", "world_size", "dist_url", "distributed", "use_dist_eval_sampler",
    "accum_grad_iters", "log_freq", "beta2", "k_test", "train_dataset_ratios", "max_len",
    "min_len", "num_beams", "inference_method", "iters_per_epoch", "gpu", "rank",
    # ours
    "beta1", "eps", "max_grad_norm", "fused_adamw", "compile", "channels_last", "dist_backend",
    "checkpoint", "save_every_epoch", "plot", "max_steps", "progress", "job_name", "scores",
    "checkpoint_every_steps", "eval_precision", "loader_tokens", "grad_checkpointing",
}


def _arch_class(arch):
    from lavis.common.registry import registry

    cls = registry.get_model_class(arch)
    if cls is None:
        raise unknown_choice("model.arch", arch, registry.mapping["model_name_mapping"].keys())
    return cls


def _check_model_type(cls, arch, model_type):
    valid = getattr(cls, "PRETRAINED_MODEL_CONFIG_DICT", {})
    if model_type not in valid:
        raise unknown_choice(f"model_type for {arch}", model_type, valid.keys())


def _make_config_class():
    from lavis.common.config import Config

    class PluginConfig(Config):
        @staticmethod
        def build_model_config(config, **kwargs):
            model = config.get("model", None)
            if model is None:
                raise ConfigError("the config has no 'model:' section")
            if "arch" not in model:
                raise ConfigError("model.arch is missing")
            overrides = kwargs.get("model") or {}
            if overrides.get("arch"):
                model.arch = overrides["arch"]  # load that model's defaults, not the file's arch's
            cls = _arch_class(model.arch)
            if overrides.get("model_type"):
                model.model_type = overrides["model_type"]  # load X's defaults, not the file's type's
            if not model.get("model_type"):
                raise ConfigError(f"model.model_type is missing for {model.arch}")
            _check_model_type(cls, model.arch, model.model_type)
            return Config.build_model_config(config)

        @staticmethod
        def build_dataset_config(config):
            from lavis.common.registry import registry

            datasets = config.get("datasets", None)
            if not datasets:
                raise ConfigError("the config has no 'datasets:' section")
            known = registry.mapping["builder_name_mapping"]
            for name in datasets:
                if name not in known:
                    raise unknown_choice("dataset", name, known.keys())
            return Config.build_dataset_config(config)

    return PluginConfig


def load_config(cfg_path: str, options: list[str] | None = None):
    """LAVIS ``Config`` for ``cfg_path`` plus ``--options`` overrides, validated.

    Call :func:`ahnpl_plugin.register` first (LAVIS only knows registered names).
    """
    path = Path(cfg_path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {cfg_path}")
    try:
        OmegaConf.load(path)
    except Exception as exc:  # yaml errors carry line/column
        raise ConfigError(f"cannot parse {cfg_path}: {exc}".replace("\n", " ")) from None
    args = argparse.Namespace(cfg_path=str(path), options=list(options or []))
    for option in args.options:
        if "=" not in option:
            raise ConfigError(f"--options takes key=value pairs, got {option!r}")
    cfg = _make_config_class()(args)
    validate_run_config(cfg.run_cfg)
    if cfg.run_cfg.get("output_dir"):
        cfg.run_cfg.output_dir = str(resolve_user_path(cfg.run_cfg.output_dir))
    return cfg


def validate_run_config(run_cfg) -> None:
    unknown = sorted(set(run_cfg.keys()) - RUN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown run key(s) {', '.join(unknown)}; valid: {', '.join(sorted(RUN_KEYS))}"
        )
    for key in ("task", "output_dir"):
        if not run_cfg.get(key):
            raise ConfigError(f"run.{key} is required")
