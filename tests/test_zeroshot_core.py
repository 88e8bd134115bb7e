"""Zero-shot core: metrics against hand-computed values, the classifier, the two readers, and
a planted model scoring 100% (no LAVIS import)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ahnpl_plugin.zeroshot import metrics as m
from ahnpl_plugin.zeroshot.classifier import class_prompts, zero_shot_weights
from ahnpl_plugin.zeroshot.evaluate import ZeroShotImages, score_set
from ahnpl_plugin.zeroshot.protocols import headline_metric
from ahnpl_plugin.errors import ZeroShotDataError
from ahnpl_plugin.zeroshot.readers import (
    open_image,
    read_class_folders,
    read_clip_benchmark_wds,
    read_elevater,
)
from helpers.zeroshot import (
    CLASSNAMES,
    COLOURS,
    TEMPLATES,
    PlantedEncoder,
    make_class_folders,
    make_clip_benchmark_wds,
    make_elevater_coco,
    make_elevater_iris,
    to_tensor,
)


# ------------------------------------------------------------------------------- metrics
def _logits_for(predicted, classes=3):
    logits = np.zeros((len(predicted), classes))
    logits[np.arange(len(predicted)), predicted] = 1.0
    return logits


def test_accuracy_and_mean_per_class_recall_hand_computed():
    targets = [0, 0, 0, 1, 2, 2]
    logits = _logits_for([0, 0, 1, 1, 2, 0])
    assert m.top_k_accuracy(logits, targets, 1) == pytest.approx(4 / 6)
    # recalls: class 0 2/3, class 1 1/1, class 2 1/2
    assert m.mean_per_class_recall(logits, targets) == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)


def test_mean_per_class_recall_ignores_classes_absent_from_targets():
    # class 2 is predicted once but never a target: sklearn's balanced accuracy averages 0 and 1 only
    assert m.mean_per_class_recall(_logits_for([0, 2, 1]), [0, 0, 1]) == pytest.approx((1 / 2 + 1) / 2)


def test_top5_is_nan_below_five_classes_and_counts_ranks():
    assert math.isnan(m.top_k_accuracy(np.eye(3), [0, 1, 2], 5))
    logits = np.array([[5, 4, 3, 2, 1, 0.0], [5, 4, 3, 2, 1, 0.0]])
    assert m.top_k_accuracy(logits, [4, 5], 5) == 0.5


def test_interpolated_precision_11_points_hand_computed():
    # ranks 1..5, positives at 1, 3, 5: (R, P) = (1/3, 1), (1/3, 1/2), (2/3, 2/3), (2/3, 1/2), (1, 3/5)
    values = m.interpolated_precision([0.9, 0.8, 0.7, 0.6, 0.5], [1, 0, 1, 0, 1])
    expected = [0.6] * 4 + [2 / 3] * 3 + [1.0] * 4
    np.testing.assert_allclose(values, expected)
    assert values.mean() == pytest.approx(8.4 / 11)


def test_interpolated_precision_tied_scores_are_one_threshold():
    # one threshold (R 1, P 1/2); the point at recall 0 is 1 (the curve's (0, 1) end)
    assert m.interpolated_precision([0.5, 0.5], [1, 0]).mean() == pytest.approx(6 / 11)


def test_map_11_points_uses_softmax_scores_per_class():
    # two classes; l1 - l0 = 0.02, 0.01, -0.01 -> class 1 ranks images 0, 1, 2 (positives 0 and 2):
    # AP11 = (5 * 2/3 + 6) / 11 = 28/33; class 0 ranks 2, 1, 0 (positive 1): (10 * 1/2 + 1) / 11 = 6/11
    logits = np.array([[0.0, 0.02], [0.0, 0.01], [0.0, -0.01]])
    assert m.map_11_points(logits, [1, 0, 1]) == pytest.approx((28 / 33 + 6 / 11) / 2)


def test_map_11_points_multilabel_matrix():
    logits = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert m.map_11_points(logits, np.array([[1, 1], [0, 1]])) == pytest.approx(1.0)


def test_roc_auc_two_classes_ties_count_half():
    # class-1 margins: positives 0.03, 0.01; negatives 0.01, -0.02 -> 3 wins + 1 tie of 4 pairs
    logits = np.array([[0, 0.03], [0, 0.01], [0, 0.01], [0, -0.02]])
    assert m.roc_auc(logits, [1, 0, 1, 0]) == pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="two-class"):
        m.roc_auc(np.zeros((2, 3)), [0, 1])


def test_clip_benchmark_average_precision_hand_computed():
    # positives at ranks 2 and 3: (1/2 + 2/3) / 2
    assert m.average_precision([0.9, 0.8, 0.7], [0, 1, 1]) == pytest.approx(7 / 12)
    assert m.average_precision([0.9, 0.8], [0, 0]) == 0.0


def test_suite_metrics_reports_clip_benchmark_trio_and_the_headline():
    logits = np.array([[0, 0.03], [0, 0.01], [0, 0.01], [0, -0.02]])
    values = m.suite_metrics(logits, [1, 0, 1, 0], "roc_auc")
    assert set(values) == {"acc1", "acc5", "mean_per_class_recall", "roc_auc"}
    with pytest.raises(ValueError, match="multi-label"):
        m.suite_metrics(logits, np.eye(2)[[0, 1, 1, 0]], "accuracy", multilabel=True)


@pytest.mark.parametrize("name,metric", [
    ("imagenet1k", "accuracy"), ("wds/vtab/caltech101", "mean-per-class"), ("fgvc_aircraft", "mean-per-class"),
    ("vtab/pets", "mean-per-class"), ("flowers", "mean-per-class"), ("voc2007_multilabel", "11point_mAP"),
    ("hateful-memes", "roc_auc"), ("cars", "accuracy"), ("my_own_set", "acc1"),
    ("voc2007classification", "11point_mAP"), ("flower102", "mean-per-class"), ("stanfordcar", "accuracy"),
])
def test_headline_metric_follows_elevater(name, metric):
    assert headline_metric(name) == metric


def test_every_name_table_covers_the_21_elevater_sets():
    from ahnpl_plugin.zeroshot.protocols import ELEVATER_CONFIG_NAMES, ELEVATER_METRIC

    assert len(ELEVATER_METRIC) == 21 and sorted(set(ELEVATER_CONFIG_NAMES.values())) == sorted(ELEVATER_METRIC)


# ----------------------------------------------------------------------------- classifier
def test_classifier_is_mean_of_normalised_prompt_features_each_prompt_encoded_once():
    table = {"a cat.": [3.0, 0, 0], "the cat": [0, 4.0, 0], "a dog.": [0, 0, 2.0], "the dog": [0, 0, 5.0]}
    calls = []

    def encode_text(texts):
        calls.append(list(texts))
        return torch.tensor([table[t] for t in texts])

    weights = zero_shot_weights(encode_text, ["cat", "dog", "cat"], ["a {c}.", "the {}", "a {c}."], batch_size=3)
    assert sorted(t for batch in calls for t in batch) == sorted(table)  # 4 distinct prompts, once each
    assert [len(b) for b in calls] == [3, 1]
    cat = torch.tensor([2.0, 1.0, 0.0]) / math.sqrt(5)  # mean of e1, e2, e1, renormalised
    torch.testing.assert_close(weights[:, 0], cat)
    torch.testing.assert_close(weights[:, 2], cat)
    torch.testing.assert_close(weights[:, 1], torch.tensor([0.0, 0.0, 1.0]))


def test_templates_need_a_placeholder():
    assert class_prompts(["x"], ["{c} and {c}"]) == [["x and x"]]
    with pytest.raises(ValueError, match="placeholder"):
        class_prompts(["x"], ["a photo"])


# -------------------------------------------------------------------------------- readers
def test_class_folders_labels_follow_the_class_list_not_the_folder_listing(tmp_path):
    zs = read_class_folders(make_class_folders(tmp_path / "set"))
    assert zs.classnames == CLASSNAMES and zs.templates == TEMPLATES
    # folders sort apple, mango, zebra; labels are the class list's: zebra 0, apple 1, mango 2
    assert [int(t) for t in zs.targets] == [0, 0, 1, 1, 1, 2]
    assert all(f"/{CLASSNAMES[t]}/" in p for p, t in zip(zs.images, zs.targets))


def test_class_folders_with_folders_file(tmp_path):
    root = make_class_folders(tmp_path / "set", folders=["n03", "n01", "n02"])
    zs = read_class_folders(root)
    assert [int(t) for t in zs.targets] == [0, 0, 1, 1, 1, 2]
    assert "/n03/" in zs.images[0]
    (root / "test" / "n99").mkdir()
    with pytest.raises(ZeroShotDataError, match="n99"):
        read_class_folders(root)


def test_class_folders_sorted_mode(tmp_path):
    root = make_class_folders(tmp_path / "set", folders=["n03", "n01", "n02"])
    (root / "folders.txt").unlink()
    zs = read_class_folders(root, folders="sorted")  # n01 -> class 0 (zebra), n02 -> 1, n03 -> 2
    assert [(p.split("/")[-2], int(t)) for p, t in zip(zs.images, zs.targets)][0] == ("n01", 0)


def test_clip_benchmark_wds_export_is_read_in_shard_order(tmp_path):
    labels = (0, 1, 2, 0, 2, 1, 1)
    root = make_clip_benchmark_wds(tmp_path / "wds_set", labels=labels, maxcount=3)
    assert (root / "test" / "nshards.txt").read_text().strip() == "3"
    zs = read_clip_benchmark_wds(root)
    assert zs.classnames == CLASSNAMES and zs.templates == TEMPLATES and not zs.multilabel
    assert [int(t) for t in zs.targets] == list(labels)
    assert zs.images[4].name == "s0000004.webp" and zs.images[4].shard.endswith("/1.tar")
    colour = np.asarray(open_image(zs.images[4])).reshape(-1, 3).mean(axis=0)
    assert np.abs(colour - COLOURS["mango"]).max() < 8


def test_clip_benchmark_wds_multilabel_and_errors(tmp_path):
    root = make_clip_benchmark_wds(tmp_path / "voc", multilabel=[[1, 0, 1], [0, 1, 0]])
    zs = read_clip_benchmark_wds(root)
    assert zs.multilabel and zs.targets.tolist() == [[1, 0, 1], [0, 1, 0]]
    with pytest.raises(ZeroShotDataError, match="nshards.txt"):
        read_clip_benchmark_wds(root, split="train")
    (root / "test" / "0.tar").unlink()
    with pytest.raises(ZeroShotDataError, match="0.tar not found"):
        read_clip_benchmark_wds(root)


def test_missing_templates_file_is_an_error_not_imagenet_templates(tmp_path):
    root = make_class_folders(tmp_path / "set")
    (root / "zeroshot_classification_templates.txt").unlink()
    with pytest.raises(ZeroShotDataError, match="templates file not found"):
        read_class_folders(root)


def test_elevater_iris_index_with_zipped_images(tmp_path):
    root = make_elevater_iris(tmp_path / "food-101", labels=(0, 1, 2, 1))
    zs = read_elevater(root, templates=root / "templates.txt")
    assert zs.classnames == CLASSNAMES and zs.templates == ["a photo of a {}."] and not zs.multilabel
    assert zs.targets.tolist() == [0, 1, 2, 1]
    assert zs.images[1].name == "val/image 1.jpg" and zs.images[1].archive.endswith("val.zip")
    assert np.abs(np.asarray(open_image(zs.images[2])).reshape(-1, 3).mean(0) - COLOURS["mango"]).max() < 12
    with pytest.raises(ZeroShotDataError, match="no prompt templates"):
        read_elevater(root)
    multi = read_elevater(make_elevater_iris(tmp_path / "voc", multilabel_row="0,2"), templates=["{}"])
    assert multi.multilabel and multi.targets.tolist()[0] == [1, 0, 1]


def test_elevater_coco_index_classes_in_category_id_order(tmp_path):
    root = make_elevater_coco(tmp_path / "hateful-memes", labels=(1, 0, 1))
    zs = read_elevater(root, templates=root / "templates.txt")
    assert zs.classnames == CLASSNAMES[:2]  # category 1 first although listed second
    assert zs.targets.tolist() == [1, 0, 1] and zs.images[0].name == "img/00000.png"
    zs = read_elevater(root, templates=["{}"], classnames=["not hateful", "hateful"])
    assert zs.classnames == ["not hateful", "hateful"]


# --------------------------------------------------------------------- planted model: 100%
@pytest.mark.parametrize("layout", ["folders", "wds", "elevater"])
def test_planted_model_that_separates_the_classes_scores_100(tmp_path, layout):
    if layout == "folders":
        zs = read_class_folders(make_class_folders(tmp_path / "set"))
    elif layout == "wds":
        zs = read_clip_benchmark_wds(make_clip_benchmark_wds(tmp_path / "set"))
    else:
        zs = read_elevater(make_elevater_iris(tmp_path / "set"), templates=TEMPLATES)
    encoder = PlantedEncoder()
    result = score_set(encoder, ZeroShotImages(zs, to_tensor), batch_size=4)
    assert result["metrics"]["acc1"] == 1.0 and result["metrics"]["mean_per_class_recall"] == 1.0
    assert math.isnan(result["metrics"]["acc5"])  # 3 classes, as CLIP_benchmark
    assert sorted(encoder.encoded_prompts) == sorted(t.replace("{c}", c) for c in CLASSNAMES for t in TEMPLATES)


def test_swapped_labels_are_caught_by_the_planted_model(tmp_path):
    zs = read_class_folders(make_class_folders(tmp_path / "set"))
    zs.classnames = ["apple", "mango", "zebra"]  # the folder listing's order: labels would be wrong
    result = score_set(PlantedEncoder(), ZeroShotImages(zs, to_tensor), batch_size=4)
    assert result["metrics"]["acc1"] == 0.0


def test_metrics_equal_scikit_learn_where_the_suites_call_it():
    """CLIP_benchmark and ELEVATER compute these with scikit-learn; the project does not depend on
    it, so this cross-check runs only where it is installed (random sets, half with tied scores)."""
    sm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for trial in range(60):
        n, c = int(rng.integers(5, 40)), int(rng.integers(2, 8))
        logits = rng.normal(size=(n, c))
        logits = (np.round(logits * 2) / 2 if trial % 2 else logits) * 0.05
        labels = rng.integers(0, c, n)
        assert m.mean_per_class_recall(logits, labels) == pytest.approx(
            sm.balanced_accuracy_score(labels, logits.argmax(1)))
        probabilities = m.softmax(logits)
        for k in range(c):
            precision, recall, _ = sm.precision_recall_curve(labels == k, probabilities[:, k])
            ours_p, ours_r = m.precision_recall_curve(probabilities[:, k], labels == k)
            np.testing.assert_allclose(ours_p, precision)
            np.testing.assert_allclose(ours_r, recall)
        if c == 2 and len(set(labels)) == 2:
            assert m.roc_auc(logits, labels) == pytest.approx(sm.roc_auc_score(labels, probabilities[:, 1]))


# ------------------------------------------------------------------------------ intervals
def _hit_logits(hits, classes=3):
    """Logits whose argmax is the label (0) exactly where ``hits``."""
    logits = np.zeros((len(hits), classes))
    logits[np.arange(len(hits)), np.where(hits, 0, 1)] = 1.0
    return logits


def test_bootstrap_values_on_the_identity_resample_equal_the_metrics():
    from ahnpl_plugin.zeroshot.intervals import _value, evidence

    rng = np.random.default_rng(1)
    logits, labels = rng.normal(size=(50, 6)), rng.integers(0, 6, 50)
    identity = np.arange(50)
    for metric in ("acc1", "acc5", "mean-per-class", "11point_mAP"):
        assert _value(evidence(metric, logits, labels), identity) == pytest.approx(m.compute(metric, logits, labels))


def test_bootstrap_interval_of_an_accuracy_matches_the_binomial_width():
    from ahnpl_plugin.zeroshot.intervals import evidence, set_intervals

    hits = np.arange(400) % 2 == 0  # 50% of 400: binomial 95% half-width 4.9 points
    out = set_intervals({"s": evidence("acc1", _hit_logits(hits), np.zeros(400, dtype=int))})
    low, high = out["sets"]["s"]["score"]
    assert low == pytest.approx(0.451, abs=0.01) and high == pytest.approx(0.549, abs=0.01)
    perfect = set_intervals({"s": evidence("acc1", _hit_logits(np.ones(20, bool)), np.zeros(20, dtype=int))})
    assert perfect["sets"]["s"]["score"] == (1.0, 1.0)


def test_paired_retention_interval():
    from ahnpl_plugin.zeroshot.intervals import evidence, set_intervals

    labels = np.zeros(400, dtype=int)
    tuned = evidence("acc1", _hit_logits(np.ones(400, bool)), labels)
    start = evidence("acc1", _hit_logits(np.arange(400) % 2 == 0), labels)
    same = set_intervals({"s": tuned}, {"s": tuned})
    assert same["sets"]["s"]["retention"] == (0.0, 0.0) and same["mean"]["retention"] == (0.0, 0.0)
    out = set_intervals({"s": tuned, "t": tuned}, {"s": start, "t": tuned})
    low, high = out["sets"]["s"]["retention"]
    assert low == pytest.approx(0.451, abs=0.01) and high == pytest.approx(0.549, abs=0.01)
    low, high = out["mean"]["retention"]  # (0.5 + 0) / 2, half the width
    assert low == pytest.approx(0.2255, abs=0.006) and high == pytest.approx(0.2745, abs=0.006)


def test_table_cells_carry_their_intervals():
    from ahnpl_plugin.zeroshot.report import render_zeroshot_table

    results = {"cifar10": {"headline": "accuracy", "images": 10, "score": 0.8}}
    reference = {"cifar10": {"headline": "accuracy", "images": 10, "score": 0.9}}
    intervals = {"sets": {"cifar10": {"score": (0.7, 0.9), "reference": (0.8, 1.0), "retention": (-0.2, 0.0)}},
                 "mean": {"score": (0.7, 0.9), "reference": (0.8, 1.0), "retention": (-0.2, 0.0)}}
    table = render_zeroshot_table(results, "tuned", reference, "start", intervals)
    assert "| cifar10 | accuracy | 10 | 80.0 [70.0, 90.0] | 90.0 [80.0, 100.0] | -10.0 [-20.0, +0.0] |" in table


def test_top_k_ties_rank_the_lower_class_first():
    logits = np.array([[1.0, 1.0, 1.0, 0.0]])
    assert m.top_k_hits(logits, [0], 1).tolist() == [True]
    assert m.top_k_hits(logits, [1], 1).tolist() == [False]
    assert m.top_k_hits(logits, [2], 2).tolist() == [False] and m.top_k_hits(logits, [2], 3).tolist() == [True]
