"""Building LAVIS's ``Config`` with the plugin's fixes.

LAVIS 1.0.2 merges: the user's ``run`` + the model type's default YAML overridden by the user's
``model:`` + each builder's default YAML overridden by ``datasets.<name>:`` + ``--options`` last.
Fixed here:

* ``--options model.model_type=X`` keeps X's value but loads the *old* type's defaults
  (lavis/common/config.py:64); we load X's defaults.
* The whole merged config (file + ``--options``) is checked before anything runs: unknown model
  architectures, model types, dataset names (``--options datasets.nope.x=1`` too), tasks, runners,
  ``run`` keys and LR schedules, and non-numeric numbers, raise a :class:`ConfigError` listing the
  valid ones (LAVIS asserts or fails later with a KeyError or a raw ValueError).
* Every dataset's image size follows the model type (``preprocess`` of its default YAML, or a
  BLIP ``model.image_size``) unless the config sets it; a size set by hand that differs is an error
  naming both sizes (LAVIS keeps the builder's size and the model fails on the first batch).
* ``--cfg-path`` may name a shipped project config (``demo``) from any folder; a missing file is an
  error saying where it looked, and a removed shipped config (``eval_aro_blip.yaml``) an error
  naming the command that replaces it (:data:`REMOVED_CONFIGS`).
* The plugin's models get ``model.loss`` defaults from one file, ``lavis_configs/models/loss.yaml``
  (the config's own ``model.loss`` keys over them).
* ``run.reference_model: type_default`` becomes ``{arch, model_type}`` of the configured model (that
  type's own starting weights), so one eval config serves every model.
* ``run.output_dir`` is resolved against ``$AHNPL_OUTPUT_ROOT`` or the working directory (LAVIS:
  under site-packages/lavis).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from omegaconf import OmegaConf

from ahnpl_plugin.errors import ConfigError, unknown_choice
from ahnpl_plugin.models import CONFIG_FILES
from ahnpl_plugin.paths import find_config, output_root, project_config_names

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
    "checkpoint_every_steps", "eval_precision", "model_selection", "loader_tokens", "grad_checkpointing",
    "normalize_on_device", "grad_cache",
    "strict",  # ahnpl_compositional: every configured benchmark must be present (all or nothing)
    "reference_model", "bootstrap",  # task ahnpl_zeroshot: starting weights (retention), interval replicates
}

# `run:` keys that hold numbers (None = unset is fine everywhere).
INT_RUN_KEYS = ("max_epoch", "batch_size_train", "batch_size_eval", "num_workers", "seed", "warmup_steps",
                "accum_grad_iters", "log_freq", "k_test", "max_steps", "iters_per_epoch", "max_len", "min_len",
                "num_beams", "checkpoint_every_steps")
FLOAT_RUN_KEYS = ("init_lr", "min_lr", "warmup_lr", "lr_decay_rate", "weight_decay", "beta1", "beta2", "eps",
                  "max_grad_norm")

# LAVIS's runners are registered (LAVIS imports them) but cannot run these configs.
LAVIS_RUNNERS = {
    "runner_base": "LAVIS's epoch runner needs run.evaluate and a CUDA process group and fails on these configs",
    "runner_iter": "LAVIS's iteration runner needs a CUDA process group and fails on these configs",
}


# Shipped project configs that were removed -> the --options that give the same run with their
# replacement (issue 14: one eval config per benchmark, the model named by --options).
BLIP_OPTIONS = "model.arch=ahnpl_blip model.model_type=coco"
REMOVED_CONFIGS: dict[str, tuple[str, str]] = {
    **{f"eval_{name}_blip": (f"eval_{name}", BLIP_OPTIONS) for name in (
        "all", "aro", "colorswap", "crepe", "eqben", "imagecode", "mmvp_vlm", "retrieval_coco", "spec",
        "suite", "sugarcrepe", "sugarcrepe_pp", "svo_probes", "valse", "vl_checklist", "whatsup",
        "winoground")},
    "eval_imagenet_lavis_blip": ("eval_imagenet_lavis", f"{BLIP_OPTIONS} run.batch_size_eval=128"),
    "eval_zeroshot_blip": ("eval_zeroshot", f"{BLIP_OPTIONS} run.batch_size_eval=128"),
}

# run.reference_model: the configured model's arch and type with that type's own weights.
TYPE_DEFAULT_REFERENCE = "type_default"


def plain(value):
    """OmegaConf containers as plain Python values (lists, dicts); any other value unchanged."""
    if OmegaConf.is_config(value):
        return OmegaConf.to_container(value, resolve=True)
    return value


def model_mapping(cfg, arch: str, keys, model_types) -> tuple[dict, str]:
    """``(plain model config, model_type)`` of a ``model:`` section, after checking it is a mapping
    with only ``keys`` and a ``model_type`` among ``model_types`` (ConfigErrors listing the valid)."""
    raw = plain(cfg)
    if not isinstance(raw, dict):
        raise ConfigError(f"the model config must be a mapping, got {type(cfg).__name__}")
    for key in raw:
        if key not in keys:
            raise unknown_choice(f"{arch} model key", key, keys)
    model_type = raw.get("model_type")
    if model_type not in model_types:
        raise unknown_choice(f"{arch} model_type", model_type, model_types)
    return raw, model_type


def model_flag(name: str, value) -> bool:
    """``model.<name>`` as a bool; a ConfigError for anything but true/false (no "yes", no 1)."""
    if not isinstance(value, bool):
        raise ConfigError(f"model.{name} must be true or false, got {value!r}")
    return value


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
            built = Config.build_model_config(config)
            if built.model.arch in CONFIG_FILES:  # the plugin's models: model.loss defaults from one file
                from ahnpl_plugin.models.loss_options import with_loss_defaults

                with_loss_defaults(built.model)
            return built

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


def resolve_config_path(cfg_path: str) -> Path:
    """The config file ``--cfg-path`` names (a path, or a shipped project config's name)."""
    found, looked = find_config(cfg_path)
    removed = REMOVED_CONFIGS.get(Path(str(cfg_path)).name.removesuffix(".yaml").removesuffix(".yml"))
    if found is None and removed is not None:
        replacement, options = removed
        raise ConfigError(
            f"{cfg_path} was removed (one eval config per benchmark, the model chosen by --options); run "
            f"--cfg-path projects/ahnpl/{replacement}.yaml --options {options}"
        )
    if found is None:
        names = ", ".join(project_config_names())
        raise ConfigError(
            f"config file not found: {cfg_path} (looked at {', '.join(str(p) for p in looked)}); "
            f"give a path, or the name of a shipped config: {names}"
        )
    return found


def load_config(cfg_path: str, options: list[str] | None = None):
    """LAVIS ``Config`` for ``cfg_path`` plus ``--options`` overrides, validated.

    Call :func:`ahnpl_plugin.register` first (LAVIS only knows registered names).
    """
    path = resolve_config_path(cfg_path)
    try:
        user_file = OmegaConf.load(path)
    except Exception as exc:  # yaml errors carry line/column
        raise ConfigError(f"cannot parse {path}: {exc}".replace("\n", " ")) from None
    args = argparse.Namespace(cfg_path=str(path), options=list(options or []))
    for option in args.options:
        if "=" not in option:
            raise ConfigError(f"--options takes key=value pairs, got {option!r}")
    try:
        user_options = OmegaConf.from_dotlist(args.options)
    except Exception as exc:
        raise ConfigError(f"cannot parse --options {' '.join(args.options)}: {exc}".replace("\n", " ")) from None
    cfg = _make_config_class()(args)
    validate_config(cfg)
    align_image_sizes(cfg.config, explicit=[user_file, user_options])
    if cfg.run_cfg.get("output_dir"):
        cfg.run_cfg.output_dir = str((output_root() / Path(cfg.run_cfg.output_dir).expanduser()).resolve())
    return cfg


def validate_config(cfg) -> None:
    """Check the merged config (file + defaults + ``--options``) before anything is built."""
    from lavis.common.registry import registry

    known = registry.mapping["builder_name_mapping"]
    for name in cfg.config.get("datasets") or {}:  # --options datasets.X.k=v adds X after the builders ran
        if name not in known:
            raise unknown_choice("dataset", name, known.keys())
    validate_run_config(cfg.run_cfg)
    resolve_reference_model(cfg.run_cfg, cfg.model_cfg)
    if cfg.model_cfg.get("arch") == "clip":
        check_stock_clip(cfg.model_cfg)


def resolve_reference_model(run_cfg, model_cfg) -> None:
    """``run.reference_model: type_default`` -> ``{arch, model_type}`` of ``model_cfg`` (merged over
    that type's default YAML by the task: the type's own starting weights); a mapping stays."""
    reference = run_cfg.get("reference_model")
    if reference is None or OmegaConf.is_config(reference) or isinstance(reference, dict):
        return
    if reference != TYPE_DEFAULT_REFERENCE:
        raise ConfigError(
            f"run.reference_model must be {TYPE_DEFAULT_REFERENCE} (the model's arch and type with that type's own "
            f"weights) or a model mapping such as {{arch: ahnpl_clip, model_type: ViT-B-32}}, got {reference!r}"
        )
    run_cfg.reference_model = {"arch": model_cfg.arch, "model_type": model_cfg.model_type}


def validate_run_config(run_cfg) -> None:
    from ahnpl_plugin.schedule import check_schedule

    unknown = sorted(set(run_cfg.keys()) - RUN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown run key(s) {', '.join(unknown)}; valid: {', '.join(sorted(RUN_KEYS))}"
        )
    for key in ("task", "output_dir"):
        if not run_cfg.get(key):
            raise ConfigError(f"run.{key} is required")
    for key in INT_RUN_KEYS:
        _check_number(run_cfg, key, int)
    for key in FLOAT_RUN_KEYS:
        _check_number(run_cfg, key, float)
    for key in ("loader_tokens", "grad_checkpointing", "normalize_on_device", "grad_cache"):  # issue 21's switches
        if run_cfg.get(key) is not None and not isinstance(run_cfg.get(key), bool):
            raise ConfigError(f"run.{key} must be true or false, got {run_cfg.get(key)!r}")
    if run_cfg.get("lr_sched") is not None:
        check_schedule(run_cfg.lr_sched)
    _check_registered("task", run_cfg.task, "task_name_mapping")
    runner = run_cfg.get("runner") or "ahnpl_runner"
    if runner in LAVIS_RUNNERS:
        raise ConfigError(f"run.runner {runner!r}: {LAVIS_RUNNERS[runner]}; use ahnpl_runner")
    _check_registered("runner", runner, "runner_name_mapping", exclude=LAVIS_RUNNERS)


def _check_registered(kind: str, name, mapping: str, exclude=()) -> None:
    from lavis.common.registry import registry

    known = registry.mapping[mapping]
    if name not in known or name in exclude:
        raise unknown_choice(f"run.{kind}", name, [k for k in known if k not in exclude])


def _check_number(run_cfg, key: str, kind: type) -> None:
    value = run_cfg.get(key)
    if value is None:
        return
    what = "an integer" if kind is int else "a number"
    if isinstance(value, bool):
        raise ConfigError(f"run.{key} must be {what}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"run.{key} must be {what}, got {value!r}") from None
    if kind is int and not number.is_integer():
        raise ConfigError(f"run.{key} must be {what}, got {value!r}")
    run_cfg[key] = int(number) if kind is int else number


def check_stock_clip(model_cfg) -> None:
    """LAVIS's own ``clip``: ``pretrained`` must name weights it can load without a download that
    fails midway (LAVIS gives a raw URLError offline, an AttributeError for an empty value)."""
    from lavis.models.clip_models.pretrained import get_pretrained_url, list_pretrained_model_tags

    pretrained = model_cfg.get("pretrained")
    if pretrained is None:
        model_cfg.pretrained = ""  # `--options model.pretrained=`: random init, as "" means
        return
    pretrained = str(pretrained)
    if pretrained == "" or Path(pretrained).expanduser().is_file():
        return
    model_type = str(model_cfg.model_type)
    if get_pretrained_url(model_type, pretrained):
        return  # a tag LAVIS downloads: fetch_stock_clip_weights, before the model is built
    tags = ", ".join(list_pretrained_model_tags(model_type)) or "none"
    raise ConfigError(
        f"model.pretrained {pretrained!r} for LAVIS's clip {model_type}: neither a file nor a known tag "
        f"(tags: {tags}); or \"\" for random initialisation"
    )


def fetch_stock_clip_weights(model_cfg) -> None:
    """For LAVIS's stock ``clip`` with ``pretrained: openai``: the cached archive, or a download;
    a one-line error naming the file and URL if neither (LAVIS: a raw URLError). Called by the
    train/evaluate entry points before anything is built (``data check`` reports it instead)."""
    if model_cfg.get("arch") == "clip" and str(model_cfg.get("pretrained") or "").lower() == "openai":
        from ahnpl_plugin.models.clip.weights import openai_archive

        openai_archive(str(model_cfg.model_type))


# ------------------------------------------------------------------------------ image sizes
def model_image_sizes(config) -> dict:
    """``{"train": px, "eval": px}``: the input size of the configured model type (a BLIP
    ``model.image_size``, else the model type's ``preprocess``); splits without one are left out."""
    sizes = {}
    model_size = (config.get("model") or {}).get("image_size")
    preprocess = (config.get("preprocess") or {}).get("vis_processor") or {}
    for split in ("train", "eval"):
        size = model_size if model_size is not None else (preprocess.get(split) or {}).get("image_size")
        if size is not None:
            sizes[split] = int(size)
    return sizes


def align_image_sizes(config, explicit=()) -> None:
    """Give every dataset's image processors the model type's image size, unless a config in
    ``explicit`` (the user's file, the ``--options``) sets it; a set size that differs from the
    model's is a ConfigError naming both."""
    sizes = model_image_sizes(config)
    model = config.get("model") or {}
    for name, dataset in (config.get("datasets") or {}).items():
        processors = dataset.get("vis_processor") if dataset is not None else None
        if not processors:
            continue  # e.g. benchmarks under ahnpl_compositional: the task gives them the model's
        for split, processor in processors.items():
            size = sizes.get("train" if split == "train" else "eval")
            if processor is None or size is None:
                continue
            key = f"datasets.{name}.vis_processor.{split}.image_size"
            hand_set = [OmegaConf.select(c, key, default=None) for c in explicit]
            hand_set = [v for v in hand_set if v is not None]
            if hand_set:
                if int(hand_set[-1]) != size:
                    raise ConfigError(
                        f"{key} is {hand_set[-1]} but model {model.get('arch')} {model.get('model_type')} takes "
                        f"{size} px images; remove that line (the size follows the model type) or set it to {size}"
                    )
            else:
                processor["image_size"] = size
