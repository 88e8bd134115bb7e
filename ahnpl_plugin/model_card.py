"""The model card (``README.md``) of an exported checkpoint: Hugging Face front matter + body.

What the exporter knows it fills in: the architecture and activation, ``base_model`` when the run
started from OpenAI's weights, the training config stored in the checkpoint, and the provenance
record the runner stores with it (``checkpoint["provenance"]``, when present). What only the
person publishing can know comes from a card-info YAML (``--card-info``)::

    license: mit
    base_model: openai/clip-vit-base-patch32      # when not derivable
    datasets: [yerevann/coco-karpathy]            # HF dataset ids
    negatives: "generator ahnpl-negatives 0.3, spaCy en_core_web_sm 3.8.0 (sha256 ...)"  # or released files
    compute: "1x H100 80GB, 5 h"
    contamination: "no test image of the benchmarks below is in COCO 2014 train (checked by ...)"
    zero_shot_retention: "ImageNet-1k zero-shot top-1 63.1 (start 63.3), ..."
    results:                                      # -> model-index and the results table
      - {benchmark: SugarCrepe, split: replace-rel, metric: accuracy, value: 80.4,
         protocol: "image-to-text, 1 positive vs 1 negative caption, 224 px centre crop"}
    results_json: [output/eval/.../results.json]  # runs of lavis.evaluate: every protocol cell becomes a row

Every field neither source provides is written as ``TO FILL IN: <what>``, and
:func:`missing_fields` lists them so the exporter can say what is left before publishing.
"""

from __future__ import annotations

import json

import yaml
from ahnpl_plugin.errors import CardInfoError

TO_FILL = "TO FILL IN"
HF_OPENAI_IDS = {
    "ViT-B-32": "openai/clip-vit-base-patch32",
    "ViT-B-16": "openai/clip-vit-base-patch16",
    "ViT-L-14": "openai/clip-vit-large-patch14",
    "ViT-L-14-336": "openai/clip-vit-large-patch14-336",
}
CARD_INFO_KEYS = ("license", "base_model", "datasets", "negatives", "compute", "contamination", "zero_shot_retention",
                  "results", "results_json", "model_name")
RESULT_KEYS = ("benchmark", "metric", "value", "protocol")


def read_card_info(path: str | None) -> dict:
    """The card-info YAML as a dict ({} without a path); unknown keys and bad result rows are errors."""
    if not path:
        return {}
    with open(path) as handle:
        info = yaml.safe_load(handle) or {}
    if not isinstance(info, dict):
        raise CardInfoError(f"{path}: expected a mapping of {', '.join(CARD_INFO_KEYS)}")
    unknown = sorted(set(info) - set(CARD_INFO_KEYS))
    if unknown:
        raise CardInfoError(f"{path}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(CARD_INFO_KEYS)}")
    for i, row in enumerate(info.get("results") or []):
        absent = [k for k in RESULT_KEYS if not isinstance(row, dict) or row.get(k) in (None, "")]
        if absent:
            raise CardInfoError(f"{path}: results[{i}] lacks {', '.join(absent)} (each number needs its protocol)")
    runs = info.pop("results_json", None) or []
    for run in [runs] if isinstance(runs, str) else runs:
        info["results"] = list(info.get("results") or []) + results_from_run(run)
    return info


def results_from_run(path: str) -> list[dict]:
    """Card result rows from a run's ``results.json``: every protocol cell of every benchmark
    (value in percent, its protocol, 95% interval, n, completeness, evaluation precision)."""
    from ahnpl_plugin.benchmarks.protocols import protocol_table

    from ahnpl_plugin.data.jsonio import read_json

    record = read_json(path, CardInfoError)
    protocols = protocol_table()
    precision = record.get("eval_precision", "not recorded")
    rows = []
    for split, scores in record.items():
        if not isinstance(scores, dict):
            continue
        per_dataset = [scores] if "cells" in scores else [v for v in scores.values() if isinstance(v, dict)]
        for dataset_scores in per_dataset:
            for name, cell in (dataset_scores.get("cells") or {}).items():
                if cell.get("value") is None:
                    continue
                rule = protocols[name].describe() if name in protocols else name
                detail = f"{rule}; 95% interval [{100 * cell['low']:.1f}, {100 * cell['high']:.1f}]" if cell.get(
                    "low") is not None else rule
                detail += f"; n={cell.get('n')}; evaluation precision {precision}"
                if not cell.get("complete", True):
                    detail += f"; INCOMPLETE: {cell.get('incomplete_because')}"
                rows.append({"benchmark": name.split("/")[0], "split": split, "metric": name,
                             "value": round(100 * float(cell["value"]), 2), "protocol": detail})
    if not rows:
        raise CardInfoError(f"results_json {path}: holds no protocol cells (a run of the compositional suite has them)")
    return rows


def _fill(what: str) -> str:
    return f"{TO_FILL}: {what}"


def base_model(model_type: str, pretrained: str, info: dict) -> str | None:
    """HF id of the starting weights: card info, else OpenAI's id when the run started from 'openai'."""
    if info.get("base_model"):
        return str(info["base_model"])
    if str(pretrained).lower() == "openai":
        return HF_OPENAI_IDS.get(model_type)
    return None


def _negatives(provenance: dict, info: dict) -> str:
    if info.get("negatives"):
        return str(info["negatives"])
    found = {k: v for k, v in (provenance or {}).items() if "negative" in k or "spacy" in k.lower()}
    for path, entry in ((provenance or {}).get("files") or {}).items():  # the runner's record
        if isinstance(entry, dict) and (entry.get("negatives_header") or "negative" in path):
            header = entry.get("negatives_header")
            found[path] = (json.dumps(header, sort_keys=True) if header else "no generator header") + \
                f", sha256 {entry.get('sha256', '?')}"
    if found:
        return "; ".join(f"{k}: {v}" for k, v in sorted(found.items()))
    return _fill("negatives' provenance (generator version, spaCy model and its hash, or the released files used)")


def _model_index(name: str, results: list[dict]) -> list[dict]:
    entries = []
    for row in results:
        metric = {"type": str(row["metric"]), "value": row["value"], "name": f"{row['benchmark']} {row['metric']}",
                  "args": {"protocol": str(row["protocol"])}}
        dataset = {"name": str(row["benchmark"]), "type": str(row["benchmark"]).lower().replace(" ", "-")}
        if row.get("split"):
            dataset["split"] = str(row["split"])
        entries.append({"task": {"type": "zero-shot-image-classification", "name": "image-text matching"},
                        "dataset": dataset, "metrics": [metric]})
    return [{"name": name, "results": entries}] if entries else []


def model_card(
    *, model_name: str, model_type: str, act: str, run_config: dict | None, provenance: dict | None, info: dict,
    formats: str,
) -> str:
    """README.md text (front matter + body)."""
    run_config, provenance = run_config or {}, provenance or {}
    model_cfg = run_config.get("model") or {}
    base = base_model(model_type, model_cfg.get("pretrained", ""), info)
    results = list(info.get("results") or [])
    front = {
        "license": str(info.get("license") or "unknown"),
        "library_name": "transformers",
        "pipeline_tag": "zero-shot-image-classification",
        "tags": ["clip", "ahnpl", "compositionality", "hard-negatives", "lavis"],
    }
    if base:
        front["base_model"] = base
    if info.get("datasets"):
        front["datasets"] = [str(d) for d in info["datasets"]]
    index = _model_index(info.get("model_name") or model_name, results)
    if index:
        front["model-index"] = index
    activation = "QuickGELU (x * sigmoid(1.702 x))" if act == "quick_gelu" else "GELU (nn.GELU)"
    lines = [
        "---", yaml.safe_dump(front, sort_keys=False, allow_unicode=True).rstrip(), "---", "",
        f"# {info.get('model_name') or model_name}", "",
        f"CLIP {model_type} fine-tuned with AHNPL (Adaptive Hard Negative Perturbation Learning, IJCAI 2025) using "
        f"the ahnpl-lavis plugin for LAVIS. Formats in this folder: {formats}.", "",
        "| field | value |", "|---|---|",
        f"| licence | {info.get('license') or _fill('licence (front matter says unknown)')} |",
        f"| base model | {base or _fill('base_model (the run did not start from OpenAI weights)')} |",
        f"| activation | {activation}; `hidden_act: {act}` in config.json |",
        f"| training data | {', '.join(map(str, info.get('datasets') or [])) or _fill('datasets (HF ids)')}"
        f"{' (run config: ' + ', '.join(sorted(run_config.get('datasets') or {})) + ')' if run_config.get('datasets') else ''} |",
        f"| hard negatives | {_negatives(provenance, info)} |",
        f"| compute | {info.get('compute') or _fill('compute (hardware and hours)')} |",
        f"| contamination | {info.get('contamination') or _fill('contamination statement: overlap of training images/captions with the evaluation sets')} |",
        f"| zero-shot retention | {info.get('zero_shot_retention') or _fill('zero-shot results before and after fine-tuning')} |",
        "",
        "## Use", "",
        "```python",
        "from transformers import CLIPModel, CLIPProcessor, CLIPTokenizer",
        "model = CLIPModel.from_pretrained(PATH)",
        "processor = CLIPProcessor.from_pretrained(PATH, use_fast=False)  # slow tokenizer: ids equal to LAVIS's",
        "```", "",
        "Images: shortest side resized (bicubic), centre crop, OpenAI mean/std, as LAVIS's `clip_image_eval`.", "",
        "## Evaluation", "",
    ]
    if results:
        lines += ["| benchmark | split | metric | value | protocol |", "|---|---|---|---|---|"]
        lines += [f"| {r['benchmark']} | {r.get('split', '')} | {r['metric']} | {r['value']} | {r['protocol']} |" for r in results]
    else:
        lines.append(_fill("evaluation table (benchmark, split, metric, value, protocol of each number)"))
    lines += ["", "## Training config", "", "```json", json.dumps(run_config, indent=2, sort_keys=True, default=str)
              if run_config else _fill("the checkpoint stores no run config"), "```", ""]
    if provenance:
        lines += ["## Provenance recorded by the runner", "", "```json",
                  json.dumps(provenance, indent=2, sort_keys=True, default=str), "```", ""]
    return "\n".join(lines)


def missing_fields(card: str) -> list[str]:
    """The ``TO FILL IN: ...`` items of a card (what the publisher still has to supply)."""
    found = []
    for line in card.splitlines():
        start = line.find(TO_FILL + ":")
        if start >= 0:
            found.append(line[start + len(TO_FILL) + 1:].strip(" |"))
    return found
