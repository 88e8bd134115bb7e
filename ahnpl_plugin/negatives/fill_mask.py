"""Replacements from a local Hugging Face masked language model (CE-CLIP style, optional).

The target word is masked ("a [MASK] dog sitting on a bench") and the model's top predictions are
filtered: special tokens, sub-word pieces ("##ing", a BPE piece without its word-start marker),
non-words (punctuation, digits), closed-class words ("the", "on"), words the vocabulary knows
only in another role ("circle" for an adjective) and the original word with its synonyms are
dropped. Among the rest, a word of the original's vocabulary category is preferred
(colour -> colour); else the best-ranked one is taken. When nothing acceptable is predicted the
negative is invalid: a failed fill is never kept (CE-CLIP kept them). Spatial relations are
always replaced from the vocabulary (their opposites), not by the model.

torch and transformers are imported only here, only when a model path is given.
"""

from __future__ import annotations

import re
from pathlib import Path

from ahnpl_plugin.negatives.analysis import Analysis
from ahnpl_plugin.errors import NegativesError
from ahnpl_plugin.negatives.inflection import VERB_FORM_OF_TAG
from ahnpl_plugin.negatives.replacements import Target, acceptable
from ahnpl_plugin.negatives.vocabulary import Vocabulary

TOP_K = 50
BATCH_SIZE = 64
_WORD = re.compile(r"[a-z]+(?:-[a-z]+)?")
CLOSED_CLASS = frozenset("""
a an the this that these those some any each every no all both either neither my your his her its our
their i you he she it we they me him us them who whom whose which what there here and or but nor so
yet for of on in at by to from with without into onto over under above below behind beside near up
down out off about as than then not is are was were be been being am has have had do does did will
would can could shall should may might must very too also just only s t ll ve re d m
""".split())


def piece_to_word(piece: str, marker: str | None, at_start: bool) -> str | None:
    """The word a vocabulary piece stands for, or None for a word-internal piece.

    ``marker`` is the tokenizer's word-start marker ("Ġ" byte-level BPE, "▁" SentencePiece) or
    None (WordPiece, whose inner pieces start with "##").
    """
    if piece.startswith("##"):
        return None
    if marker is None:
        return piece
    if piece.startswith(marker):
        return piece[len(marker):]
    return piece if at_start else None


class MaskFiller:
    """Fills replacement targets with a masked LM loaded from a local directory."""

    def __init__(self, path: str | Path, vocabulary: Vocabulary, single_thread: bool = False):
        path = Path(path)
        if not path.is_dir():
            raise NegativesError(f"--fill-mask-model {str(path)!r} is not a directory with a Hugging Face masked LM")
        try:
            import torch
            from transformers import AutoModelForMaskedLM, AutoTokenizer
        except ImportError as err:
            raise NegativesError("the fill-mask path needs torch and transformers: pip install torch transformers") from err
        if single_thread:
            torch.set_num_threads(1)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForMaskedLM.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError, KeyError) as err:
            raise NegativesError(f"cannot load a masked LM from {str(path)!r}: {str(err).splitlines()[0]}") from err
        if self.tokenizer.mask_token is None:
            raise NegativesError(f"the tokenizer in {str(path)!r} has no mask token")
        self.torch = torch
        self.model.eval()
        self.vocabulary = vocabulary
        pieces = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        self.marker = next((m for m in ("Ġ", "▁") if any(p.startswith(m) for p in pieces if p)), None)
        self.special_ids = set(self.tokenizer.all_special_ids)
        positions = getattr(self.model.config, "max_position_embeddings", 512) or 512
        self.max_length = max(8, min(512, positions - 4))

    def masked_text(self, a: Analysis, target: Target) -> str:
        before = "".join(t.text + t.ws for t in a.tokens[:target.start])
        after = "".join(t.text + t.ws for t in a.tokens[target.end:])
        return before + self.tokenizer.mask_token + a.tokens[target.end - 1].ws + after

    def fill(self, requests: list[tuple[Analysis, Target]]) -> list[str | None]:
        """The inflected replacement of each (analysis, target), or None when none is acceptable."""
        out: list[str | None] = []
        for begin in range(0, len(requests), BATCH_SIZE):
            out += self._fill_batch(requests[begin:begin + BATCH_SIZE])
        return out

    def _fill_batch(self, requests: list[tuple[Analysis, Target]]) -> list[str | None]:
        if not requests:
            return []
        torch = self.torch
        texts = [self.masked_text(a, t) for a, t in requests]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
        with torch.no_grad():
            logits = self.model(**enc).logits
        k = min(TOP_K, logits.shape[-1])
        results: list[str | None] = []
        for row, (a, target) in enumerate(requests):
            where = (enc["input_ids"][row] == self.tokenizer.mask_token_id).nonzero()
            if len(where) == 0:  # the mask was truncated away
                results.append(None)
                continue
            ranked = torch.topk(logits[row, int(where[0])], k).indices.tolist()
            at_start = not any(t.is_word for t in a.tokens[:target.start])
            results.append(self._choose(ranked, target, at_start))
        return results

    def _choose(self, ranked_ids: list[int], target: Target, at_start: bool) -> str | None:
        vocab = self.vocabulary
        words: list[str] = []
        for token_id in ranked_ids:
            if token_id in self.special_ids:
                continue
            word = piece_to_word(self.tokenizer.convert_ids_to_tokens(token_id), self.marker, at_start)
            if word is None:
                continue
            word = word.lower()
            if len(word) < 2 or not _WORD.fullmatch(word) or word in CLOSED_CLASS:
                continue
            formed = self._in_form(word, target)
            if formed is not None and formed not in words:
                words.append(formed)
        bases = {w: self._base(w, target) for w in words}
        allowed = set(acceptable(target, set(bases.values()), vocab)) if words else set()
        own = set(target.original.split())  # 2.5: a whole name's own words ("laptop computer" -> not "laptop")
        words = [w for w in words if bases[w] in allowed and w != target.original and w not in own]
        if not words:
            return None
        if target.known_kind:
            same_kind = [w for w in words if vocab.category_of(bases[w], target.role) == target.pool]
            if same_kind:
                return same_kind[0]
        return words[0]

    def _base(self, word: str, target: Target) -> str:
        vocab = self.vocabulary
        if target.role == "noun":
            return vocab.singular(word)
        if target.role == "verb":
            return vocab.verb_base(word) or word
        return word

    def _in_form(self, word: str, target: Target) -> str | None:
        """The predicted word in the original's grammatical form, or None when it cannot be
        (including a word the vocabulary knows only in another role: "circle" for an adjective)."""
        vocab = self.vocabulary
        as_noun = vocab.category_of(vocab.singular(word), "noun") is not None
        as_adjective = vocab.category_of(word, "adjective") not in (None, "count")
        if target.role == "adjective":
            return None if as_noun and not as_adjective else word
        if target.role == "noun" and as_adjective and not as_noun:
            return None
        if target.role == "verb" and vocab.verb_base(word) is None and (as_noun or as_adjective):
            return None
        if target.role == "noun":
            singular = vocab.singular(word)
            if vocab.category_of(singular, "noun") is None:
                return word  # unknown noun: trust the model's form
            if target.plural and singular in vocab.uncountable:
                return None
            return vocab.plural(singular) if target.plural else singular
        if target.role == "verb":
            index = VERB_FORM_OF_TAG.get(target.tag, 0)
            base = vocab.verb_base(word)
            if base is not None:
                return vocab.forms(base)[index]
            looks_right = {1: word.endswith("s"), 2: word.endswith("ed"), 3: word.endswith("ing"),
                           4: word.endswith("ed")}.get(index, not word.endswith(("ing", "ed")))
            return word if looks_right else None
        return word
