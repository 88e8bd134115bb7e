"""A tiny COCO folder in the layout the published recipe reads, for the tests/test_real_data_*.py files.

    <root>/annotations/captions_train2014.json          COCO's own format (train2014 images only)
    <root>/annotations/coco_karpathy_{val,test}.json     LAVIS's Karpathy lists (val2014 images)
    <root>/images/{train2014,val2014}/...
    <root>/negatives/captions_train2014.negatives.jsonl  template negatives of every train caption

Val/test captions carry upper case and punctuation ("A red dog, next to: a blue car!"), so that
LAVIS's ``blip_caption`` (lower case, punctuation removed) and raw captions give different texts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ahnpl_plugin.data.sample_folder import make_coco_folder, write_coco_captions, write_template_negatives

RECIPES = ("coco", "coco_reference", "coco_itc_text_hn", "coco_ceclip", "coco_clip_ft", "coco_blip")


@dataclass
class RecipeFolder:
    root: Path
    images: Path
    train_captions: Path  # captions_train2014.json
    negatives: Path
    train_rows: list[dict]  # the rows that file holds, in the Karpathy-style layout
    eval_rows: dict[str, list[dict]]


def shout(caption: str, k: int) -> str:
    """A templated caption ("a red dog next to a blue car") with a capital, a comma after the first
    object, a colon after the relation on odd ``k``, and a closing '!' (odd ``k``) or '.'."""
    words = caption.split(" ")
    words[2] += ","
    if k % 2:
        words[-4] += ":"
    text = " ".join(words)
    return text[0].upper() + text[1:] + ("!" if k % 2 else ".")


def make_recipe_folder(root: str | Path, n_train: int = 8, n_val: int = 3, n_test: int = 6) -> RecipeFolder:
    """Write the folder (see the module docstring); deterministic."""
    root = Path(root)
    folder = make_coco_folder(root, n_train=n_train, n_val=n_val, n_test=n_test, captions_per_image=2,
                              restval=False)
    folder.annotations["train"].unlink()  # the recipe reads COCO's own file instead
    train_captions = write_coco_captions(folder.train_rows, root / "annotations" / "captions_train2014.json")
    negatives = write_template_negatives(folder.train_rows, root / "negatives" / "captions_train2014.negatives.jsonl")
    for split in ("val", "test"):
        for i, row in enumerate(folder.eval_rows[split]):
            row["caption"] = [shout(c, i + k) for k, c in enumerate(row["caption"])]
        folder.annotations[split].write_text(json.dumps(folder.eval_rows[split]))
    return RecipeFolder(root, folder.images, train_captions, negatives, folder.train_rows, folder.eval_rows)


def tiny_run_options(output_dir: Path, keep_amp: bool = False, **extra) -> list[str]:
    """--options turning a shipped COCO config into a seconds-long CPU run of the tiny CLIP
    (``keep_amp``: leave the config's own ``run.amp``)."""
    options = {
        "model.model_type": "tiny", "model.pretrained": "", "run.device": "cpu", "run.amp": "false",
        "run.max_epoch": "1", "run.batch_size_train": "4", "run.batch_size_eval": "8", "run.num_workers": "0",
        "run.init_lr": "1e-3", "run.warmup_steps": "1", "run.log_freq": "0", "run.progress": "false",
        "run.plot": "false", "run.output_dir": str(output_dir), **extra,
    }
    if keep_amp:
        options.pop("run.amp")
    return [f"{k}={v}" for k, v in options.items()]
