"""BLIP's BERT tokenizer, loaded offline and checked against the text encoder it feeds.

LAVIS's ``BlipBase.init_tokenizer`` calls ``BertTokenizer.from_pretrained("bert-base-uncased")``
(hub or cache only) and adds two tokens: ``[DEC]`` (bos, for BLIP's decoder) and ``[ENC]`` (put
in place of ``[CLS]`` for image-grounded encoding, i.e. ITM). ``model.tokenizer`` says where the
vocabulary comes from:

* a folder (``~`` and relative paths from the working directory) holding a BERT vocabulary
  (``vocab.txt``; e.g. a saved ``bert-base-uncased``): the offline way for the base types;
* ``builtin-tiny``: this module's small WordPiece vocabulary for the ``tiny`` type (whole words
  of the synthetic world and common caption words, plus single characters and ``##`` pieces, so
  every lower-case English caption tokenises);
* any other name: a Hugging Face hub id (``bert-base-uncased``, the base types' default), read
  from its local cache or the hub; offline (``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE``) from the
  cache only, failing at once with the cache path when it is not there
  (:mod:`ahnpl_plugin.models.blip.sources`, which also checks the value before anything is built).

The result is checked (:func:`check_tokenizer`): its size with [DEC]/[ENC] must equal the text
encoder's ``vocab_size`` (30,524 for BLIP base), it must lower-case like BLIP's vocabulary, and
[PAD]/[UNK]/[CLS]/[SEP]/[MASK] must be real entries, [PAD] at the encoder's ``pad_token_id``. A
wrong or missing vocabulary is a :class:`~ahnpl_plugin.errors.ConfigError`, never a silently
different one (transformers 5 offline can return a tokenizer with a near-empty vocabulary).
"""

from __future__ import annotations

import os
import tempfile

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.models.blip.sources import (
    BUILTIN_TINY,
    EMPTY_TOKENIZER_MESSAGE,
    OFFLINE_REASON,
    TOKENIZER_FIX,
    hf_hub_cache,
    hub_offline,
    hub_tokenizer_cached,
    tokenizer_folder_problem,
    tokenizer_kind,
    uncached_tokenizer_message,
)
from ahnpl_plugin.paths import resolve_user_path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
ADDED_TOKENS = 2  # [DEC] and [ENC], added as LAVIS's init_tokenizer does

# Whole words of the tiny vocabulary: the synthetic world's words and frequent caption words.
# Anything else falls back to characters. Never reorder or edit: token ids of the tiny type's
# checkpoints depend on this list (append-only would still change the vocabulary size).
TINY_WORDS = (
    "a", "an", "the", "of", "to", "on", "in", "at", "and", "with", "is", "are", "it", "its", "by",
    "left", "right", "above", "below", "under", "over", "next", "behind", "front", "near", "top",
    "small", "large", "big", "little", "red", "green", "blue", "yellow", "purple", "orange", "cyan",
    "white", "black", "brown", "gray", "grey", "pink", "circle", "square", "triangle", "diamond",
    "cross", "shape", "man", "woman", "person", "people", "dog", "cat", "table", "bed", "street",
    "sitting", "standing", "holding", "riding", "walking", "eating", "playing", "looking", "two",
    "one", "three", "some", "there", "that", "this", "from", "up", "down", "into", "for",
)
TINY_CHARACTERS = tuple("abcdefghijklmnopqrstuvwxyz0123456789") + tuple(".,'-!?:;()\"/&")


def builtin_tiny_vocabulary() -> list[str]:
    """The tiny type's vocabulary, one token per line of a BERT ``vocab.txt`` (ids = positions)."""
    pieces = [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz0123456789"]
    tokens = list(SPECIAL_TOKENS) + list(TINY_CHARACTERS) + pieces + list(TINY_WORDS)
    return list(dict.fromkeys(tokens))  # "a" is a character and a word: listed once


def builtin_tiny_vocab_size() -> int:
    """Size of the tiny tokenizer with [DEC] and [ENC]: the tiny BERT's ``vocab_size``."""
    return len(builtin_tiny_vocabulary()) + ADDED_TOKENS


def write_vocabulary(folder, tokens: list[str]) -> str:
    """Write ``tokens`` as ``folder/vocab.txt`` (folder created); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(tokens) + "\n")
    return str(folder)


def _with_blip_tokens(tokenizer):
    """Add [DEC]/[ENC] and ``enc_token_id`` as LAVIS's ``BlipBase.init_tokenizer`` does."""
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    tokenizer.add_special_tokens({"additional_special_tokens": ["[ENC]"]})
    tokenizer.enc_token_id = tokenizer.additional_special_tokens_ids[0]
    return tokenizer


def _read_tokenizer(spec: str):
    """A ``BertTokenizer`` (without BLIP's two tokens) for a ``model.tokenizer`` value.

    A hub id is read from :func:`~ahnpl_plugin.models.blip.sources.hf_hub_cache` (the folder the
    pre-build check looked in); offline without a cached copy it fails at once, naming that cache.
    """
    from transformers import BertTokenizer

    kind = tokenizer_kind(spec)
    if kind == "builtin":
        with tempfile.TemporaryDirectory() as folder:  # BertTokenizer reads the file in __init__
            return BertTokenizer(os.path.join(write_vocabulary(folder, builtin_tiny_vocabulary()), "vocab.txt"))
    if kind == "folder":
        problem = tokenizer_folder_problem(spec)
        if problem:
            raise ConfigError(problem)
        path = resolve_user_path(spec)
        try:
            return BertTokenizer.from_pretrained(str(path))
        except Exception as exc:  # noqa: BLE001 - transformers raises OSError, ValueError, ImportError...
            raise ConfigError(f"model.tokenizer: cannot read a BERT tokenizer from {path}: {exc}") from None
    if hub_offline() and not hub_tokenizer_cached(spec):
        raise ConfigError(uncached_tokenizer_message(spec, OFFLINE_REASON))
    try:
        return BertTokenizer.from_pretrained(spec, cache_dir=hf_hub_cache())
    except Exception as exc:  # noqa: BLE001 - offline, transformers raises OSError, ImportError, ...
        raise ConfigError(
            f"model.tokenizer: cannot load {spec!r} from the Hugging Face hub or its cache {hf_hub_cache()} "
            f"({type(exc).__name__}: {exc}); offline, {TOKENIZER_FIX}"
        ) from None


def check_tokenizer(tokenizer, vocab_size: int, pad_token_id: int, source: str) -> None:
    """Raise ConfigError unless ``tokenizer`` (with [DEC]/[ENC]) fits a BERT of ``vocab_size``."""
    vocab = getattr(tokenizer, "vocab", None) or tokenizer.get_vocab()  # the file's entries, not added ones
    missing = [t for t in SPECIAL_TOKENS if t not in vocab]
    if missing:
        raise ConfigError(f"model.tokenizer {source}: vocabulary lacks {', '.join(missing)} (not a BERT vocabulary)")
    if len(tokenizer) != vocab_size:
        raise ConfigError(
            f"model.tokenizer {source}: {len(tokenizer)} tokens with [DEC]/[ENC], but the text encoder has "
            f"vocab_size {vocab_size} (BLIP base: bert-base-uncased, 30522 + 2; tiny: {BUILTIN_TINY})"
        )
    if vocab["[PAD]"] != pad_token_id or tokenizer.pad_token_id != pad_token_id:
        raise ConfigError(
            f"model.tokenizer {source}: [PAD] has id {vocab['[PAD]']}, the text encoder pads with id {pad_token_id}"
        )
    if not getattr(tokenizer, "do_lower_case", True):
        raise ConfigError(f"model.tokenizer {source}: a cased tokenizer; BLIP uses bert-base-uncased (lower case)")
    if tokenizer.convert_tokens_to_ids("[ENC]") != tokenizer.enc_token_id:
        raise ConfigError(f"model.tokenizer {source}: [ENC] was not added as a special token")


def load_blip_tokenizer(spec: str, vocab_size: int, pad_token_id: int = 0):
    """BLIP's tokenizer from ``model.tokenizer`` (see the module docstring), checked."""
    if tokenizer_kind(spec) == "empty":
        raise ConfigError(EMPTY_TOKENIZER_MESSAGE)
    tokenizer = _with_blip_tokens(_read_tokenizer(spec.strip()))
    check_tokenizer(tokenizer, int(vocab_size), int(pad_token_id), repr(spec))
    return tokenizer
