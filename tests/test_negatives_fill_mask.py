"""The optional fill-mask path, with a tiny random BERT built on disk whose output bias plants the
ranking of its predictions: sub-words, punctuation, closed-class words, the original word and
words of another role rank first and must be filtered out."""

from __future__ import annotations

import json

import pytest

from ahnpl_plugin.negatives import INVALID, generate_negatives
from ahnpl_plugin.negatives.cli import main
from ahnpl_plugin.negatives.fill_mask import piece_to_word

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# token -> planted output bias (all other tokens: -50)
RANKING = {"##ing": 30.0, ",": 29.0, "the": 28.0, "red": 27.0, "circle": 26.0, "7": 25.0,
           "purple": 10.0, "triangle": 9.0}


def build_masked_lm(folder, words: list[str], ranking: dict[str, float]) -> str:
    import torch
    import transformers
    folder.mkdir()
    vocab_file = folder / "vocab.txt"
    vocab_file.write_text("\n".join(SPECIALS + words) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(vocab_file), do_lower_case=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=len(SPECIALS) + len(words), hidden_size=16, num_hidden_layers=1,
                                     num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    model = transformers.BertForMaskedLM(config)
    bias = torch.full((config.vocab_size,), -50.0)
    for token, value in ranking.items():
        bias[tokenizer.convert_tokens_to_ids(token)] = value
    with torch.no_grad():
        model.cls.predictions.bias.copy_(bias)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def masked_lm(tmp_path_factory):
    words = ["a", "red", "circle", "above", "##ing", ",", ".", "the", "7", "purple", "triangle", "square"]
    return build_masked_lm(tmp_path_factory.mktemp("mlm") / "tiny-bert", words, RANKING)


@pytest.fixture(scope="module")
def useless_lm(tmp_path_factory):
    words = ["a", "red", "circle", "above", "##ing", ",", ".", "the", "7"]
    return build_masked_lm(tmp_path_factory.mktemp("mlm") / "useless-bert", words,
                           {k: v for k, v in RANKING.items() if k in words})


def test_fill_takes_the_best_acceptable_prediction(masked_lm):
    (result,) = generate_negatives(["a red circle"], types=["adj", "noun"], fill_mask_model=masked_lm)
    # adjective: ##ing, ",", the, red (original), circle (a noun), 7 are skipped
    assert result["adj_aug_caption"] == "a purple circle"
    # noun: red and purple are adjectives, circle is the original
    assert result["noun_aug_caption"] == "a red triangle"
    assert result["valid_caption"] == [1, 1, 1]


def test_no_acceptable_fill_is_invalid_never_kept(useless_lm):
    (result,) = generate_negatives(["a red circle above a circle"], types=["adj", "noun", "verb"],
                                   fill_mask_model=useless_lm)
    assert result["adj_aug_caption"] == INVALID and result["noun_aug_caption"] == INVALID
    assert result["verb_aug_caption"] == "a red circle below a circle"  # relations come from the vocabulary
    assert result["valid_caption"] == [1, 0, 0, 1]


def test_cli_fill_mask_model(masked_lm, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("a red circle\n")
    out = tmp_path / "out.jsonl"
    assert main(["--input", str(src), "--output", str(out), "--fill-mask-model", masked_lm,
                 "--types", "adj", "noun", "--no-progress"]) == 0
    header, record = (json.loads(line) for line in out.read_text().splitlines())
    assert header["negatives_header"]["fill_mask_model"] == masked_lm
    assert (record["adj_aug_caption"], record["noun_aug_caption"]) == ("a purple circle", "a red triangle")


def test_piece_to_word():
    assert piece_to_word("##ing", None, False) is None
    assert piece_to_word("dog", None, False) == "dog"
    assert piece_to_word("Ġdog", "Ġ", False) == "dog"
    assert piece_to_word("ing", "Ġ", False) is None  # a BPE piece inside a word
    assert piece_to_word("Dog", "Ġ", True) == "Dog"  # the first word has no marker
    assert piece_to_word("▁dog", "▁", False) == "dog"
