"""Pieces of the synthetic world with planted inputs and hand-computed answers (no world build)."""

import numpy as np
import pytest

from ahnpl_plugin.synthetic import CATEGORIES, score_items
from ahnpl_plugin.synthetic.captions import caption_is_true, mentioned_pairs, parse_caption
from ahnpl_plugin.synthetic.eval_items import eval_items_for_scene, false_descriptions
from ahnpl_plugin.synthetic.render import render_scene
from ahnpl_plugin.synthetic.sampling import place_things, sample_training_scene, thing_diameter
from ahnpl_plugin.synthetic.scenes import Description, Mention, Scene, Thing, caption_of, relation_between
from ahnpl_plugin.contract import AHNPL_TYPES, INVALID
from ahnpl_plugin.synthetic.training_negatives import retry_dropped, vet_negatives
from ahnpl_plugin.synthetic.vocabulary import BACKGROUND, PALETTE, choose_heldout_pairs

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle")
RELATIONS = ("left", "right", "above", "below")

# A hand-placed 32 px scene: small red circle in the left half, large blue square in the right half.
RED_CIRCLE = Thing("small", "red", "circle", (4, 13, 11, 20))
BLUE_SQUARE = Thing("large", "blue", "square", (18, 10, 31, 23))
SCENE = Scene((RED_CIRCLE, BLUE_SQUARE), 32)


def test_heldout_pairs_count_spread_and_determinism():
    picks = choose_heldout_pairs(COLOURS, SHAPES, 0.25, np.random.default_rng(7))
    assert len(picks) == 3  # round(0.25 * 12)
    assert picks == choose_heldout_pairs(COLOURS, SHAPES, 0.25, np.random.default_rng(7))
    held = set(picks)
    for c in COLOURS:
        assert sum((c, s) not in held for s in SHAPES) >= 2
    for s in SHAPES:
        assert sum((c, s) not in held for c in COLOURS) >= 2
    with pytest.raises(ValueError, match="lower heldout_fraction"):
        choose_heldout_pairs(COLOURS, SHAPES, 0.75, np.random.default_rng(0))
    assert choose_heldout_pairs(COLOURS, SHAPES, 0.0, np.random.default_rng(0)) == []


def test_caption_text():
    d = Description(Mention("small", "red", "circle"), "left", Mention(None, "blue", "square"))
    assert caption_of(d) == "a small red circle to the left of a blue square"
    d2 = Description(Mention(None, "orange", "cross"), "below", Mention("large", "cyan", "diamond"))
    assert caption_of(d2) == "an orange cross below a large cyan diamond"


def test_relation_from_boxes():
    assert relation_between(RED_CIRCLE, BLUE_SQUARE) == "left"
    assert relation_between(BLUE_SQUARE, RED_CIRCLE) == "right"
    top = Thing("small", "red", "circle", (12, 2, 19, 9))
    bottom = Thing("small", "red", "circle", (13, 20, 20, 27))
    assert relation_between(top, bottom) == "above"
    assert relation_between(bottom, top) == "below"


@pytest.mark.parametrize(
    "caption, truth",
    [
        ("a small red circle to the left of a large blue square", True),
        ("a red circle to the left of a blue square.", True),
        ("A large blue square to the right of a small red circle", True),
        ("a red small circle to the left of a blue square", True),  # modifier order is free
        ("a blue circle to the left of a red square", False),  # attribute swap
        ("a blue square to the left of a red circle", False),  # relation swap
        ("a red circle above a blue square", False),  # perpendicular relation
        ("a red circle to the right of a blue square", False),  # opposite relation
        ("a large red circle to the left of a blue square", False),  # wrong size
        ("a red blue circle to the left of a blue square", False),  # two colours never both hold
        ("a green circle to the left of a blue square", False),
        ("a red triangle to the left of a blue square", False),
        ("a purple circle to the left of a blue square", False),  # outside the world's palette
        ("a red circle next to a blue square", None),  # no relation phrase
        ("a red dog to the left of a blue square", None),  # unknown noun
        ("a red circle to the left of a blue square above a red circle", None),  # two relations
    ],
)
def test_caption_truth(caption, truth):
    assert caption_is_true(caption, SCENE) is truth


def test_parse_keeps_words():
    parsed = parse_caption("the small red circle below a yellow triangle")
    assert parsed.relation == "below"
    assert parsed.subject.sizes == {"small"} and parsed.subject.colours == {"red"} and parsed.subject.shape == "circle"
    assert parsed.object.sizes == frozenset() and parsed.object.colours == {"yellow"}


def test_mentioned_pairs():
    assert mentioned_pairs("a small red circle to the left of a large blue square") == {("red", "circle"), ("blue", "square")}
    assert mentioned_pairs("a red small circle above a square") == {("red", "circle")}
    assert mentioned_pairs("a red big circle") == {("red", "circle")}  # unknown words do not break a binding
    assert mentioned_pairs("a red to the left of a circle") == set()  # relation words do
    assert mentioned_pairs("###") == set()


def _colour_mask(image, colour):
    return np.all(np.asarray(image) == np.array(PALETTE[colour], dtype=np.uint8), axis=-1)


def test_render_planted_scene_pixels():
    pixels = np.asarray(render_scene(SCENE))
    assert pixels.shape == (32, 32, 3)
    red, blue = _colour_mask(render_scene(SCENE), "red"), _colour_mask(render_scene(SCENE), "blue")
    assert blue.sum() == 13 * 13  # the large square fills its 13 px box exactly
    assert 25 < red.sum() < 49  # a 7 px disc: less than its box, more than a 5 px square
    ys, xs = np.nonzero(red)
    assert xs.min() >= 4 and xs.max() <= 10 and ys.min() >= 13 and ys.max() <= 19
    ys, xs = np.nonzero(blue)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (18, 30, 10, 22)
    background = ~(red | blue)
    assert np.all(pixels[background] == np.array(BACKGROUND, dtype=np.uint8))


@pytest.mark.parametrize("relation", RELATIONS)
def test_sampled_scenes_put_things_where_the_relation_says(relation):
    """Render sampled scenes (distinct colours) and check where each colour's pixels are."""
    rng = np.random.default_rng(3)
    pairs = [("red", "circle"), ("blue", "square"), ("green", "triangle"), ("yellow", "circle")]
    checked = 0
    while checked < 25:
        s = sample_training_scene(rng, training_pairs=pairs, image_size=32, relations=(relation,), size_word_prob=0.5)
        a, b = s.scene.things
        if a.colour == b.colour:
            continue
        image = render_scene(s.scene)
        ya, xa = np.nonzero(_colour_mask(image, a.colour))
        yb, xb = np.nonzero(_colour_mask(image, b.colour))
        assert len(xa) > 0 and len(xb) > 0
        if relation == "left":
            assert xa.max() < 16 <= xb.min()
        elif relation == "right":
            assert xb.max() < 16 <= xa.min()
        elif relation == "above":
            assert ya.max() < 16 <= yb.min()
        else:
            assert yb.max() < 16 <= ya.min()
        # across the relation axis both stay near the middle (pixel extents' centres at most
        # 2 * 32/16 px apart), so "above" is plainly false for a "left" scene
        across_a, across_b = (ya, yb) if relation in ("left", "right") else (xa, xb)
        assert abs((across_a.min() + across_a.max()) - (across_b.min() + across_b.max())) / 2 <= 4
        assert s.description.relation == relation
        assert caption_is_true(caption_of(s.description), s.scene) is True
        checked += 1


def test_sizes_are_clearly_different():
    for size in (32, 48, 64):
        assert thing_diameter("large", size) >= 1.7 * thing_diameter("small", size)
        boxes = place_things(np.random.default_rng(0), "left", ("large", "large"), size)
        assert boxes[0][2] <= size // 2 and boxes[1][0] >= size // 2  # halves never overlap


def test_false_descriptions_per_category():
    d = Description(Mention("small", "red", "circle"), "left", Mention(None, "blue", "square"))
    out = false_descriptions(d, np.random.default_rng(0), COLOURS, SHAPES, RELATIONS)
    assert list(out) == list(CATEGORIES)
    assert caption_of(out["attribute_swap"]) == "a small blue circle to the left of a red square"
    assert caption_of(out["relation_swap"]) == "a blue square to the left of a small red circle"
    assert out["relation_replace"].relation in ("right", "above", "below")
    assert out["relation_replace"].subject == d.subject and out["relation_replace"].object == d.object
    ar, orep = out["attribute_replace"], out["object_replace"]
    assert [ar.subject.colour != "red", ar.object.colour != "blue"].count(True) == 1
    assert (ar.subject.shape, ar.object.shape, ar.relation) == ("circle", "square", "left")
    assert [orep.subject.shape != "circle", orep.object.shape != "square"].count(True) == 1
    # same colours: no attribute swap
    same = Description(Mention(None, "red", "circle"), "left", Mention(None, "red", "square"))
    assert "attribute_swap" not in false_descriptions(same, np.random.default_rng(0), COLOURS, SHAPES, RELATIONS)


def test_eval_items_of_planted_scene_are_checked():
    d = Description(Mention("small", "red", "circle"), "left", Mention(None, "blue", "square"))
    items = eval_items_for_scene(SCENE, d, "test/000000.png", "test_000000", np.random.default_rng(1), COLOURS, SHAPES, RELATIONS)
    assert [i["category"] for i in items] == list(CATEGORIES)
    for item in items:
        assert item["images"] == ["test/000000.png"] and item["label"] == 0
        assert item["captions"][0] == "a small red circle to the left of a blue square"
        assert caption_is_true(item["captions"][1], SCENE) is False
    wrong = Description(Mention("large", "red", "circle"), "left", Mention(None, "blue", "square"))
    with pytest.raises(AssertionError, match="not true"):
        eval_items_for_scene(SCENE, wrong, "x.png", "x", np.random.default_rng(1), COLOURS, SHAPES, RELATIONS)


def _item(category, n=2):
    return {"images": ["x.png"], "captions": ["t"] + ["f"] * (n - 1), "label": 0, "category": category}


def test_score_items_planted():
    items = [
        _item("attribute_swap"), _item("attribute_swap"), _item("attribute_swap"), _item("attribute_swap"),
        _item("relation_swap"), _item("relation_swap"),
        _item("object_replace", n=3),
    ]
    sims = [
        np.array([[0.9, 0.1]]),  # right
        np.array([[0.5, 0.5]]),  # tie: wrong
        np.array([[0.2, 0.3]]),  # wrong
        [0.3, 0.2],  # right, 1-d row accepted
        np.array([[0.1, 0.2]]),  # wrong
        np.array([[0.1, 0.2]]),  # wrong
        np.array([[0.5, 0.1, 0.5]]),  # tie with one of two false captions: wrong
    ]
    result = score_items(items, sims)
    assert list(result) == ["attribute_swap", "relation_swap", "object_replace", "average"]
    assert result["attribute_swap"] == 0.5
    assert result["relation_swap"] == 0.0
    assert result["object_replace"] == 0.0
    assert result["average"] == pytest.approx(0.5 / 3)
    # label other than 0
    item = dict(_item("relation_replace"), label=1)
    assert score_items([item], [[0.1, 0.4]]) == {"relation_replace": 1.0, "average": 1.0}


def test_score_items_rejects_bad_input():
    with pytest.raises(ValueError, match="2 items but 1 rows"):
        score_items([_item("attribute_swap")] * 2, [[[1.0, 0.0]]])
    with pytest.raises(ValueError, match=r"sims\[0\] has shape"):
        score_items([_item("attribute_swap")], [[[1.0, 0.0, 0.0]]])
    with pytest.raises(ValueError, match="non-finite"):
        score_items([_item("attribute_swap")], [[[np.nan, 0.0]]])
    with pytest.raises(ValueError, match="no 'category'"):
        score_items([{"captions": ["a", "b"], "label": 0}], [[[1.0, 0.0]]])


TYPES = AHNPL_TYPES  # the contract's five, in its order


def test_vet_negatives_planted():
    generated = [
        {
            "relation_aug_caption": "a small red square to the left of a blue circle",  # false: kept
            "adj_swap_aug_caption": "a red small circle to the left of a blue square",  # true: dropped
            "adj_aug_caption": "a small green circle to the left of a blue square",  # held-out green circle
            "noun_aug_caption": INVALID,  # the generator could not make one: stays invalid
            "verb_aug_caption": "a small red circle besides a blue square",  # unparseable: kept
            "valid_caption": [1, 1, 1, 1, 0, 1],
        }
    ]
    vetted = vet_negatives(generated, [SCENE], [("green", "circle")], TYPES)
    (record,), stats = vetted.records, vetted.stats
    assert record["valid_caption"] == [1, 1, 0, 0, 0, 1]
    assert record["relation_aug_caption"] == "a small red square to the left of a blue circle"
    assert record["adj_swap_aug_caption"] == INVALID
    assert record["adj_aug_caption"] == INVALID
    assert record["noun_aug_caption"] == INVALID
    assert record["verb_aug_caption"] == "a small red circle besides a blue square"
    assert stats["adj_swap"]["dropped_true"] == 1 and stats["adj"]["dropped_heldout"] == 1
    assert stats["verb"] == {"generated": 1, "dropped_heldout": 0, "dropped_true": 0, "replaced": 0, "unparsed_kept": 1, "kept": 1}
    assert stats["noun"]["generated"] == 0
    assert vetted.dropped == {"relation": [], "adj_swap": [0], "adj": [0], "noun": [], "verb": []}
    with pytest.raises(ValueError, match="does not match types"):
        vet_negatives([{"valid_caption": [1, 1]}], [SCENE], [], TYPES)


def test_retry_replaces_dropped_negatives_with_other_seeds():
    """A planted generator: seed 0 names the held-out green circle, seed 1 the (true) caption
    itself, seed 2 a usable false caption; only slots dropped by vetting are regenerated."""
    outputs = {
        0: "a small green circle to the left of a blue square",
        1: "a small red circle to the left of a large blue square",
        2: "a small yellow circle to the left of a blue square",
    }
    calls = []

    def generate(texts, *, types, seed):
        calls.append((list(texts), tuple(types), seed))
        return [{f"{types[0]}_aug_caption": outputs[seed], "valid_caption": [1, 1]} for _ in texts]

    caption = "a small red circle to the left of a blue square"
    first = [{"adj_aug_caption": outputs[0], "valid_caption": [1, 1]}]
    vetted = vet_negatives(first, [SCENE], [("green", "circle")], ("adj",))
    # the contract's layout: [1] + one flag per AHNPL type in AHNPL order (relation, adj_swap, adj, ...)
    assert vetted.records[0]["valid_caption"] == [1, 0, 0, 0, 0, 0] and vetted.dropped == {"adj": [0]}
    retry_dropped(vetted, [caption], [SCENE], [("green", "circle")], ("adj",), generate, [1, 2, 3])
    assert [c[2] for c in calls] == [1, 2]  # nothing left to retry after seed 2
    assert vetted.records[0] == {"valid_caption": [1, 0, 0, 1, 0, 0], "adj_aug_caption": outputs[2]}
    assert vetted.stats["adj"] == {
        "generated": 1, "dropped_heldout": 1, "dropped_true": 0, "replaced": 1, "unparsed_kept": 0, "kept": 1,
    }
    assert vetted.dropped == {"adj": []}
