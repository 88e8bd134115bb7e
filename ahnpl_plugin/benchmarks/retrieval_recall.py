"""Image-text retrieval recall@k in both directions (COCO 5k / Flickr30k 1k Karpathy test), with
95% intervals. numpy only.

The metrics are LAVIS's ``RetrievalTask`` ones, under its names and in percent: ``txt_r1/5/10``
(image -> text: an image is right at k when any of its captions ranks in the top k), ``img_r1/5/10``
(text -> image: its one image in the top k), ``txt_r_mean``, ``img_r_mean``, ``r_mean``.

Ties: LAVIS ranks with ``np.argsort`` (an unstable sort), so a tie between a true and a wrong
candidate lands either way. Here the rank of a query is the number of *wrong* candidates scoring
at least as high as its best true one: a tie counts against the model (as the compositional
benchmarks count ties) and the numbers are deterministic. Without ties both give the same ranks.

Intervals: recall@k is a proportion over queries (images for ``txt_*``, captions for ``img_*``),
so each gets a Wilson interval (:func:`ahnpl_plugin.benchmarks.stats.wilson_interval`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from .stats import wilson_interval

KS = (1, 5, 10)
ROW_CHUNK = 1024  # query rows compared at once (bounds the [rows, candidates] temporaries)


def _ranks(scores: np.ndarray, true_columns: Sequence[Sequence[int]]) -> np.ndarray:
    """Per row: how many wrong columns score >= the row's best true column."""
    scores = np.asarray(scores)  # kept in its dtype: COCO 5k x 25k float32 is 0.5 GB already
    n_rows, n_cols = scores.shape
    if len(true_columns) != n_rows:
        raise ValueError(f"{n_rows} score rows but {len(true_columns)} lists of true candidates")
    ranks = np.empty(n_rows, dtype=np.int64)
    for start in range(0, n_rows, ROW_CHUNK):
        block = scores[start:start + ROW_CHUNK]
        true = np.zeros(block.shape, dtype=bool)
        for row, columns in enumerate(true_columns[start:start + ROW_CHUNK]):
            if len(columns) == 0:
                raise ValueError(f"query {start + row} has no true candidate")
            true[row, list(columns)] = True
        best = np.where(true, block, -np.inf).max(axis=1)
        ranks[start:start + len(block)] = ((block >= best[:, None]) & ~true).sum(axis=1)
    return ranks


def retrieval_ranks(scores_i2t: np.ndarray, scores_t2i: np.ndarray, img2txt: Mapping[int, Sequence[int]],
                    txt2img: Mapping[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``(image -> text ranks [I], text -> image ranks [T])``; 0 is the top.

    ``scores_i2t`` [I, T], ``scores_t2i`` [T, I]; ``img2txt[i]``: the captions of image i,
    ``txt2img[t]``: the image of caption t (LAVIS's ``RetrievalEvalDataset`` attributes).
    """
    n_images, n_texts = np.shape(scores_i2t)
    if np.shape(scores_t2i) != (n_texts, n_images):
        raise ValueError(f"scores_t2i has shape {np.shape(scores_t2i)}, expected {(n_texts, n_images)}")
    i2t = _ranks(scores_i2t, [img2txt[i] for i in range(n_images)])
    t2i = _ranks(scores_t2i, [[txt2img[t]] for t in range(n_texts)])
    return i2t, t2i


def recall_metrics(rank_i2t: np.ndarray, rank_t2i: np.ndarray, ks: Sequence[int] = KS) -> dict:
    """LAVIS's metric dict (percent) plus ``intervals`` (Wilson 95%, percent) and ``n_images`` /
    ``n_texts``, from the ranks of :func:`retrieval_ranks`."""
    out, intervals = {}, {}
    for prefix, ranks in (("txt", np.asarray(rank_i2t)), ("img", np.asarray(rank_t2i))):
        for k in ks:
            hits = int((ranks < k).sum())
            name = f"{prefix}_r{k}"
            out[name] = 100.0 * hits / len(ranks) if len(ranks) else float("nan")
            low, high = wilson_interval(hits, len(ranks))
            intervals[name] = (100.0 * low, 100.0 * high)
        out[f"{prefix}_r_mean"] = sum(out[f"{prefix}_r{k}"] for k in ks) / len(ks)
    out["r_mean"] = (out["txt_r_mean"] + out["img_r_mean"]) / 2
    out["n_images"], out["n_texts"] = len(rank_i2t), len(rank_t2i)
    out["intervals"] = intervals
    return out


def render_retrieval_table(rows: Mapping[str, Mapping[str, Mapping]]) -> str:
    """Markdown: one row per (dataset, scoring) with R@1/5/10 both directions, each ``value
    [lo, hi]``. ``rows``: ``{dataset label: {scoring label: recall_metrics(...)}}``."""
    head = ["data", "scoring", "images", "texts"] + [f"{d} R@{k}" for d in ("i→t", "t→i") for k in KS] + ["RSUM/6"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|" + "---:|" * (len(head) - 4)]
    for label, by_scoring in rows.items():
        for scoring, m in by_scoring.items():
            cells = []
            for prefix in ("txt", "img"):
                for k in KS:
                    name = f"{prefix}_r{k}"
                    low, high = m["intervals"][name]
                    cells.append(f"{m[name]:.1f} [{low:.1f}–{high:.1f}]")
            lines.append("| " + " | ".join([label, scoring, str(m["n_images"]), str(m["n_texts"]), *cells,
                                             f"{m['r_mean']:.1f}"]) + " |")
    return "\n".join(lines) + "\n"
