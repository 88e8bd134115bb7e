"""``python -m ahnpl_plugin.data check --cfg-path X``: every path of a training config, verified.

Reports, per part of the config: the model weights (``model.pretrained``/``finetuned``; OpenAI
weights are looked up in LAVIS's cache, never downloaded), the run's output and checkpoint paths,
and for each dataset whose builder has an ``inspect`` (``ahnpl_coco``, ``ahnpl_flickr30k``,
``ahnpl_wds``, the benchmark builders ``ahnpl_<benchmark>``, ``ahnpl_zeroshot``, and LAVIS's
``imagenet``): annotation rows, images found/missing, negatives matched and their valid rate per
type, shards, benchmark items, zero-shot sets (images, classes, templates, metric); the weights of
``run.reference_model`` too. Each problem says what to fix. Nothing is written.
"""

from __future__ import annotations

import os
from pathlib import Path

from ahnpl_plugin.data.report import CheckReport


def blip_model_report(model_cfg, report: CheckReport) -> CheckReport:
    """``ahnpl_blip``'s inputs, resolved by the code the model's build uses
    (:func:`ahnpl_plugin.models.blip.sources.blip_input_problems`): what it reports missing,
    training would fail on; what it accepts (a cached URL, a reachable host), training loads."""
    from ahnpl_plugin.errors import ConfigError
    from ahnpl_plugin.models.blip.options import blip_model_options
    from ahnpl_plugin.models.blip.sources import (
        BUILTIN_TINY, blip_input_problems, hf_hub_cache, hub_tokenizer_cached, is_url, tokenizer_kind,
        url_cache_path, weights_source,
    )

    try:
        options = blip_model_options(model_cfg)
    except ConfigError as exc:
        report.problem(str(exc))
        return report
    spec, kind = options.tokenizer, tokenizer_kind(options.tokenizer)
    if spec == BUILTIN_TINY:
        report.add("tokenizer: built-in tiny vocabulary")
    elif kind == "hub":
        cached = hub_tokenizer_cached(spec)
        report.add(f"tokenizer: {spec} ({'in the hub cache ' + hf_hub_cache() if cached else 'not in the hub cache'})")
    else:
        report.add(f"tokenizer: {spec}")
    key, source = weights_source(options)
    if not source:
        report.add(f"{key}: none (random initialisation)")
    elif is_url(source):
        cached = os.path.isfile(url_cache_path(source))
        report.add(f"{key}: {source} ({'cached at ' + url_cache_path(source) if cached else 'not cached'})")
    else:
        report.add(f"{key}: {source}")
    problems = blip_input_problems(options)
    for problem in problems:
        report.problem(problem)
    if not problems:
        report.add("every input is on disk, cached, or downloadable")
    return report


def model_report(cfg, model=None, title: str = "model") -> CheckReport:
    model = cfg.model_cfg if model is None else model
    report = CheckReport(title)
    arch, model_type = model.get("arch"), model.get("model_type")
    report.add(f"{arch} {model_type}")
    if arch == "ahnpl_blip":
        return blip_model_report(model, report)
    if model.get("load_finetuned", False):
        path = Path(os.path.expanduser(str(model.get("finetuned", ""))))
        report.add(f"finetuned: {path} ({'found' if path.is_file() else 'MISSING'})")
        if not path.is_file():
            report.problem(f"model.finetuned: checkpoint not found: {path}; point it at a run's checkpoint_best.pth")
        return report
    pretrained = str(model.get("pretrained", "") or "")
    if not pretrained.strip():
        report.add("pretrained: none (random initialisation)")
    elif pretrained.lower() == "openai" and arch == "ahnpl_clip":
        from ahnpl_plugin.errors import PretrainedWeightsError
        from ahnpl_plugin.models.clip.weights import openai_cache_dir, openai_url

        try:
            url = openai_url(model_type)
        except PretrainedWeightsError as exc:
            report.problem(str(exc))
            return report
        target = Path(openai_cache_dir()) / os.path.basename(url)
        report.add(f"pretrained: openai -> {target} ({'found' if target.is_file() else 'MISSING'})")
        if not target.is_file():
            report.problem(f"model.pretrained: OpenAI's {model_type} weights are not at {target}: download {url} there "
                           "(any machine's ~/.cache/clip copy works), or set model.pretrained to a local file")
    elif pretrained.lower() != "openai":
        path = Path(os.path.expanduser(pretrained))  # a file, or a HF / open_clip hub folder
        report.add(f"pretrained: {path} ({'found' if path.exists() else 'MISSING'})")
        if not path.exists():
            report.problem(f"model.pretrained: file not found: {path}")
    return report


def run_report(cfg) -> CheckReport:
    run = cfg.run_cfg
    report = CheckReport("run")
    output = Path(str(run.output_dir))
    existing = next((p for p in [output, *output.parents] if p.exists()), None)
    writable = existing is not None and os.access(existing, os.W_OK)
    report.add(f"output_dir: {output} ({'writable' if writable else 'NOT writable'})")
    if not writable:
        report.problem(f"run.output_dir: cannot create run folders under {output}; choose a writable folder")
    for key in ("resume_ckpt_path", "checkpoint"):
        value = run.get(key)
        if value:
            path = Path(os.path.expanduser(str(value)))
            report.add(f"{key}: {path} ({'found' if path.is_file() else 'MISSING'})")
            if not path.is_file():
                report.problem(f"run.{key}: file not found: {path}")
    return report


def dataset_reports(cfg) -> list[CheckReport]:
    from lavis.common.registry import registry

    reports = []
    for name in cfg.datasets_cfg:
        builder = registry.get_builder_class(name)
        inspect = getattr(builder, "inspect", None)
        if inspect is None:
            from ahnpl_plugin.datasets.zeroshot_builder import LAVIS_BUILDER_CHECKS

            inspect = LAVIS_BUILDER_CHECKS.get(name)
        if inspect is None:
            report = CheckReport(f"datasets.{name}")
            report.add("no checks for this builder (not an ahnpl data builder)")
            reports.append(report)
        else:
            reports.append(inspect(cfg.datasets_cfg[name]))
    return reports


def check_config(cfg_path: str, options: list[str] | None = None) -> list[CheckReport]:
    """All reports for a config (LAVIS config built as the training entry point builds it)."""
    from ahnpl_plugin import register

    register()
    from ahnpl_plugin.config import load_config

    cfg = load_config(cfg_path, options)
    reports = [model_report(cfg), run_report(cfg)]
    reference = cfg.run_cfg.get("reference_model")  # task ahnpl_zeroshot's starting weights
    if reference:
        reports.append(model_report(cfg, reference, "run.reference_model"))
    return [*reports, *dataset_reports(cfg)]
