"""ImageCoDe, SVO-Probes, ColorSwap and MMVP-VLM in their distributed layouts (the remaining
benchmarks of vl_compo's twelve), with planted similarities and hand-computed scores."""

import csv
import json
from functools import partial

import numpy as np
import pytest
from PIL import Image

import ahnpl_plugin.benchmarks as benchmarks
from helpers.files import write_image

RIGHT = [[1.0, 0.0], [0.0, 1.0]]
TEXT_ONLY = [[0.5, 0.1], [0.9, 1.0]]
IMAGE_ONLY = [[0.5, 0.9], [0.1, 1.0]]
WRONG = [[0.0, 1.0], [1.0, 0.0]]


_img = partial(write_image, colour=(9, 9, 9), size=(4, 4))


# ------------------------------------------------------------------------------------ ImageCoDe
def imagecode_layout(tmp_path):
    data = tmp_path / "imagecode" / "data"
    sets = {"MSR-VTT-videoTestVideo_video1-shot2_1": {"3": "the man turns left", "7": "hand on the door"},
            "open-images-1815_f91d6f546e63f20d": {"5": "A deer head is mounted next to a painting"}}
    (data).mkdir(parents=True)
    (data / "valid_data.json").write_text(json.dumps(sets))
    for directory in sets:
        for i in range(10):
            _img(data / directory / f"img{i}.jpg")
    return tmp_path / "imagecode"


def test_imagecode_ten_images_per_set_pooled_and_by_kind(tmp_path):
    data = imagecode_layout(tmp_path) / "data"
    bench = benchmarks.load("imagecode", tmp_path / "imagecode")
    assert len(bench.items) == 3 and not bench.missing_images
    first = bench.items[0]
    assert [r.path.rsplit("/", 1)[1] for r in first.images][:3] == ["img0.jpg", "img1.jpg", "img2.jpg"]
    assert first.images[9].path.endswith("img9.jpg")  # numeric order, not img1, img10, ...
    assert first.label == 3 and first.group == "video" and bench.items[2].group == "static"
    sims = []
    for target, tie in ((3, False), (7, True), (5, False)):
        s = np.full((10, 1), 0.1)
        s[target, 0] = 0.9
        if tie:
            s[0, 0] = 0.9  # a tie with another image: wrong
        sims.append(s)
    scores = bench.score(sims)
    assert (scores["accuracy"], scores["video"], scores["static"]) == (pytest.approx(2 / 3), 0.5, 1.0)
    (data / "valid_data.json").write_text(json.dumps({"x": {"12": "too far"}}))
    with pytest.raises(benchmarks.BenchmarkFormatError, match=r"'x'\.'12'"):
        benchmarks.load("imagecode", data)


# ----------------------------------------------------------------------------------- SVO-Probes
SVO_HEADER = ["index", "sentence", "pos_triplet", "neg_triplet", "subj_neg", "verb_neg", "obj_neg",
              "pos_url", "neg_url", "pos_image_id", "neg_image_id"]


SVO_ROWS = [  # (subj, verb, obj, pos id, neg id, planted [pos, neg])
        ("True", "False", "False", 10, 11, [0.9, 0.1]), ("True", "False", "False", 12, 13, [0.2, 0.8]),
        ("False", "True", "False", 14, 15, [0.5, 0.5]),  # tie: wrong
        ("False", "False", "True", 16, 17, [0.7, 0.1]),
        ("True", "True", "False", 18, 19, [0.9, 0.1]),  # two negative types: left out
]


def svo_layout(tmp_path):
    root, rows = tmp_path / "svo_probes", SVO_ROWS
    root.mkdir(parents=True)
    with open(root / "svo_probes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(SVO_HEADER)
        for i, (s, v, o, pos, neg, _) in enumerate(rows):
            writer.writerow([i, f"sentence {i}", "man,ride,horse", "woman,ride,horse", s, v, o,
                             f"http://x/{pos}.jpg", f"http://x/{neg}.jpg", pos, neg])
            _img(root / "images" / f"{pos}.jpg")
            _img(root / "images" / f"{neg}.jpg")
    return root


def test_svo_probes_pairwise_by_negative_type(tmp_path):
    rows = SVO_ROWS
    bench = benchmarks.load("svo_probes", svo_layout(tmp_path))
    assert len(bench.items) == 4 and [it.group for it in bench.items] == ["subject", "subject", "verb", "object"]
    scores = bench.score([np.array(r[5])[:, None] for r in rows[:4]])
    assert (scores["subject"], scores["verb"], scores["object"]) == (0.5, 0.0, 1.0)
    assert scores["average"] == pytest.approx(0.5)
    assert scores["counts"]["n_rows_not_single_negative_type"] == 1
    assert "assumed" in scores["notes"][0]


# ------------------------------------------------------------------------------------ ColorSwap
def colorswap_layout(tmp_path):
    data = tmp_path / "colorswap" / "data"
    records = [{"id": i, "caption_1": f"a yellow umbrella and a white dress {i}",
                "caption_2": f"a white umbrella and a yellow dress {i}", "image_1": f"images/img_{i}_1.png",
                "image_2": f"images/img_{i}_2.png", "image_source": "midjourney" if i < 2 else "dalle3",
                "caption_source": "human"} for i in range(4)]
    data.mkdir(parents=True)
    (data / "test.json").write_text(json.dumps(records))
    for r in records:
        _img(data / r["image_1"])
        _img(data / r["image_2"])
    return tmp_path / "colorswap"


def test_colorswap_winoground_scores(tmp_path):
    bench = benchmarks.load("colorswap", colorswap_layout(tmp_path))
    assert len(bench.items) == 4 and not bench.missing_images
    scores = bench.score([np.array(x) for x in (RIGHT, TEXT_ONLY, IMAGE_ONLY, WRONG)])
    assert (scores["text"], scores["image"], scores["group"]) == (0.5, 0.5, 0.25)
    assert scores["by_group"]["midjourney/group"] == 0.5 and scores["by_group"]["dalle3/image"] == 0.5
    with pytest.raises(benchmarks.BenchmarkFileNotFoundError, match="train.json"):
        benchmarks.load("colorswap", tmp_path / "colorswap", split="train")


def test_colorswap_hugging_face_parquet(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    def png(colour):
        buffer = io.BytesIO()
        Image.new("RGB", (4, 4), colour).save(buffer, format="PNG")
        return {"bytes": buffer.getvalue(), "path": None}

    folder = tmp_path / "hf" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({
        "id": [0, 1], "image_1": [png((200, 0, 0)), png((0, 200, 0))], "image_2": [png((0, 0, 200))] * 2,
        "caption_1": ["a red cup and a blue plate", "a green cup"], "caption_2": ["a blue cup and a red plate",
                                                                                 "a cup green"],
        "image_source": ["midjourney", "dalle3"], "caption_source": ["human", "human"],
    }), folder / "test-00000-of-00001.parquet")
    bench = benchmarks.load("colorswap", tmp_path / "hf")
    assert len(bench.items) == 2 and not bench.missing_images
    from ahnpl_plugin.benchmarks import open_image

    assert open_image(bench.items[1].images[0]).getpixel((0, 0)) == (0, 200, 0)
    scores = bench.score([np.array(RIGHT), np.array(TEXT_ONLY)])
    assert (scores["text"], scores["image"], scores["group"]) == (1.0, 0.5, 0.5)


# ------------------------------------------------------------------------------------- MMVP-VLM
def mmvp_layout(tmp_path):
    root = tmp_path / "MMVP_VLM"
    root.mkdir(parents=True)
    orientation, presence = "Orientation and Direction", "Presence of Specific Features"  # MMVP's Type values
    rows = [(1, orientation, "a dog facing left"), (2, orientation, "a dog facing right"),
            (4, orientation, "a car seen from behind"), (3, orientation, "a car seen from the front"),
            (31, presence, "a cup with a handle"), (32, presence, "a cup without a handle")]
    with open(root / "Questions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Question ID", "Type", "Statement"])
        writer.writerows(rows)
    for qid, kind, _ in rows:
        _img(root / "MLLM_VLM Images" / kind / f"{qid}.jpg")
    return root


def test_mmvp_vlm_pairs_patterns_and_means(tmp_path):
    root = mmvp_layout(tmp_path)
    bench = benchmarks.load("mmvp_vlm", root)
    assert len(bench.items) == 3 and not bench.missing_images
    second = bench.items[1]  # rows 4, 3: the odd id's image comes first, with its statement
    assert second.meta["ids"] == (3, 4)
    assert second.captions == ["a photo of a car seen from the front", "a photo of a car seen from behind"]
    assert second.images[0].path.endswith("MLLM_VLM Images/Orientation and Direction/3.jpg")
    scores = bench.score([np.array(x) for x in (RIGHT, IMAGE_ONLY, TEXT_ONLY)])
    g = scores["by_group"]
    orientation, presence = "Orientation and Direction", "Presence of Specific Features"
    assert (g[f"{orientation}/image"], g[f"{orientation}/text"], g[f"{orientation}/group"]) == (1.0, 0.5, 0.5)
    assert (g[f"{presence}/image"], g[f"{presence}/text"], g[f"{presence}/group"]) == (0.0, 1.0, 0.0)
    assert scores["group"] == pytest.approx(0.25) and scores["image"] == pytest.approx(0.5)
    assert "2 visual patterns (MMVP-VLM has 9)" in scores["notes"]
    (root / "Questions.csv").write_text("Question ID,Type,Statement\n1,Orientation,a dog\n")
    with pytest.raises(benchmarks.BenchmarkFormatError, match="odd number of statements"):
        benchmarks.load("mmvp_vlm", root)
