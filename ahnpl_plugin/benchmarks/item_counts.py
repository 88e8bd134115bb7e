"""How many items each benchmark has: in the released files, in the papers, and why they differ.

:func:`render_item_counts` puts the items a run evaluated beside these, so a reader sees at once
whether a number covers the whole benchmark as released, and why the released files and the
papers do not always agree. A new benchmark joins by adding an :class:`ItemCount`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping


@dataclass(frozen=True)
class ItemCount:
    benchmark: str
    released: int | None   # items of the released files, after the benchmark's own filter
    paper: int | None      # items the papers print (None: not printed as one number)
    why: str               # how released, paper and evaluated counts relate


ITEM_COUNTS: dict[str, ItemCount] = {c.benchmark: c for c in (
    ItemCount("sugarcrepe", 7511, 7512,
              "swap_obj.json as released has 245 items (id 108 was removed upstream); the papers print 246"),
    ItemCount("valse", 7702, None,
              "8,782 items in the 11 released files; 7,702 pass the VALSE README's filter "
              "(mturk.caption >= 2, validated by at least 2 of 3 annotators), which is what is evaluated"),
    ItemCount("aro_vg_relation", 23937, 23937, "the macro average leaves out ARO's 157 excluded relations"),
    ItemCount("aro_vg_attribution", 28748, 28748, "the macro average keeps attribute pairs with >= 25 items"),
    ItemCount("aro_coco_order", 25010, 25010,
              "one item per Karpathy-test caption; a caption with no distinct perturbation is dropped"),
    ItemCount("aro_flickr_order", 5000, 5000,
              "one item per Flickr30k-test caption; a caption with no distinct perturbation is dropped"),
    ItemCount("winoground", 400, 400, ""),
    ItemCount("vl_checklist", None, None,
              "depends on which corpora are present; CE-CLIP evaluates POS[0] vs NEG[0] of each"),
    # the newer benchmarks (issue 16); None where the count was not established from the files
    ItemCount("sugarcrepe_pp", 4757, None,
              "the 5 released files: replace_att 788, replace_obj 1,652, replace_rel 1,406, swap_att 666, "
              "swap_obj 245; 2 negatives equal a positive caption verbatim (counted, never right)"),
    # "implied": the smallest item count per subset that makes every one of vl_compo's 202 models'
    # per-subset accuracies (individual_results.csv) a whole number of items
    ItemCount("whatsup", 4958, None,
              "implied by vl_compo's accuracies: Controlled A 412, B 408, COCO-QA one 2,247, two 440, "
              "VG-QA one 1,160, two 291 (the files were not available here to count)"),
    ItemCount("spec", None, None, "6 subsets x 2 directions; the JSONs were not available here to count"),
    ItemCount("crepe", 42406, None,
              "productivity, complexities 4-12 pooled, implied by vl_compo's accuracies: atom 17,698, "
              "swap 7,405, negate 17,303 (the zip was not available here to count)"),
    ItemCount("eqben", 251048, None,
              "251,048 samples in the full set (EqBen's evaluation script: AG 195,872, YouCook2 45,849, "
              "GEBC 1,814, Kubric 3 x 2,000, SD 1,513; vl_compo's accuracies imply these GEBC, Kubric and "
              "SD counts, i.e. the full set); the 10% subset is about a tenth"),
    ItemCount("imagecode", 2302, None, "validation descriptions: 1,872 video + 430 static, pooled (the same "
              "counts are implied by vl_compo's accuracies)"),
    ItemCount("svo_probes", None, None,
              "rows with exactly one negative type (as the authors' notebook); images must be downloaded "
              "from URLs, so dead links lower the count"),
    ItemCount("colorswap", 300, 300, "the test split (implied by vl_compo's accuracies too)"),
    ItemCount("mmvp_vlm", 135, None,
              "9 visual patterns x 15 image pairs (MMVP's evaluate_vlm.py; implied by vl_compo's accuracies too)"),
)}


def render_item_counts(evaluated: Mapping[str, Mapping]) -> str:
    """Markdown: per benchmark, items evaluated / skipped, in the released files, in the papers, why.

    ``evaluated`` maps benchmark name -> its score dict (``counts``)."""
    lines = ["| benchmark | evaluated | skipped (missing images) | released files | papers | why they differ |",
             "|---|---:|---:|---:|---:|---|"]
    for name, scores in evaluated.items():
        counts = scores.get("counts", {})
        known = ITEM_COUNTS.get(name, ItemCount(name, None, None, ""))
        skipped = counts.get("n_items_skipped_missing_images", 0)
        why = known.why
        if counts.get("n_missing_parts"):
            why = f"{counts['n_missing_parts']} part(s) not found; " + why
        lines.append(f"| {name} | {counts.get('n_items', '–')} | {skipped} | "
                     f"{_n(known.released)} | {_n(known.paper)} | {why} |")
    return "\n".join(lines) + "\n"


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"
