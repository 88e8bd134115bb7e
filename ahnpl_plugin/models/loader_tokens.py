"""Token ids made in the DataLoader's worker processes, for any training dataset.

Tokenising the ~1,500 texts of a 256-pair AHNPL step costs ~100-150 ms of one core (CLIP's BPE
tokenizer is mostly Python); done in the training process that is about a whole GPU step. The
runner therefore wraps every training loader's collate function in :class:`TokenizingCollater`,
whatever the dataset (COCO/Flickr folders, npy-imported negatives, shards, the synthetic world,
LAVIS's own datasets): after the dataset's collater has built the batch, the worker adds token ids
of ``text_input`` and, when present, of every column of ``hard_negatives``. The model asks for the
tokenizer (:meth:`loader_tokenizer`) so that the ids are exactly its own:

* :class:`ClipLoaderTokens` (``ahnpl_clip``): ``text_tokens`` [B, C], ``hard_negative_tokens``
  [B, K, C] from :func:`ahnpl_plugin.models.clip.tokenizer.batch_token_ids` at the model's context length
  (long captions end in ``<end_of_text>``, as the model's own ``tokenize``);
* :class:`BertLoaderTokens` (``ahnpl_blip``): the same keys, BERT ids padded to ``max_txt_len``,
  plus ``text_token_mask`` / ``hard_negative_token_mask`` (the tokenizer's attention masks). The
  model takes the rows of its one text pass and cuts them to the longest of those rows, which is
  what its own ``tokenizer(..., padding="longest")`` returns for those texts.

The keys stay on the host (``contract.HOST_KEYS``): the model picks rows there and moves only
the ids it encodes. Invalid negatives ("###") are tokenised too (mode ``reference`` encodes them).
"""

from __future__ import annotations

import torch

from ahnpl_plugin.models.clip.tokenizer import batch_token_ids

# Keys this module adds to a batch (all host-side).


def _negative_rows(batch: dict) -> list[list[str]] | None:
    negatives = batch.get("hard_negatives")
    return None if negatives is None else [list(row) for row in negatives]


class ClipLoaderTokens:
    """CLIP BPE ids of a batch's captions and negatives at ``context_length`` (picklable)."""

    def __init__(self, context_length: int):
        self.context_length = int(context_length)

    def __call__(self, batch: dict) -> dict:
        return batch_token_ids(list(batch["text_input"]), _negative_rows(batch), self.context_length)


class BertLoaderTokens:
    """BERT ids and attention masks of a batch's captions and negatives, padded to ``max_length``
    (the model cuts them to its pass's longest row); ``tokenizer``: the model's (picklable)."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    def _encode(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        if not texts:
            empty = torch.zeros((0, self.max_length), dtype=torch.long)
            return empty, empty.clone()
        out = self.tokenizer(texts, padding="max_length", truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return out["input_ids"].long(), out["attention_mask"].long()

    def __call__(self, batch: dict) -> dict:
        captions = list(batch["text_input"])
        ids, mask = self._encode(captions)
        out = {"text_tokens": ids, "text_token_mask": mask}
        negatives = _negative_rows(batch)
        if negatives is not None:
            widths = {len(row) for row in negatives}
            if len(widths) > 1:
                raise ValueError(f"hard_negatives rows must all hold K negatives, got lengths {sorted(widths)}")
            types = widths.pop() if widths else 0
            ids, mask = self._encode([text for row in negatives for text in row])
            out["hard_negative_tokens"] = ids.reshape(len(negatives), types, self.max_length)
            out["hard_negative_token_mask"] = mask.reshape(len(negatives), types, self.max_length)
        return out


class TokenizingCollater:
    """``collate(samples)`` (the dataset's collater, or PyTorch's default) plus ``tokens(batch)``'s
    keys, for a batch that has ``text_input`` (picklable when both callables are)."""

    def __init__(self, collate, tokens):
        self.collate = collate
        self.tokens = tokens

    def __call__(self, samples):
        if self.collate is None:
            from torch.utils.data import default_collate

            batch = default_collate(samples)
        else:
            batch = self.collate(samples)
        if isinstance(batch, dict) and batch.get("text_input") is not None:
            batch.update(self.tokens(batch))
        return batch


def given_tokens(samples: dict, key: str, rows: tuple[int, ...]) -> torch.Tensor | None:
    """``samples[key]`` (a long tensor [*rows, C]) on the CPU, None if absent; ValueError naming the key."""
    tokens = samples.get(key)
    if tokens is None:
        return None
    if not torch.is_tensor(tokens) or tokens.dtype != torch.long or tuple(tokens.shape[:-1]) != rows:
        got = f"{tuple(tokens.shape)} {tokens.dtype}" if torch.is_tensor(tokens) else type(tokens).__name__
        raise ValueError(f"samples[{key!r}] must be a long tensor of shape {list(rows) + ['C']}, got {got}")
    return tokens.cpu()


def encoded_negative_rows(negative_tokens: torch.Tensor, names, loss_types, encoded: torch.Tensor) -> torch.Tensor:
    """Rows [M, L] of the ``encoded`` negatives ([B, K] over ``loss_types``) taken from loader
    tokens [B, K', L] whose columns are named ``names``, sample-major as ``texts_to_encode`` orders them."""
    columns = [list(names).index(t) for t in loss_types]
    return negative_tokens[:, columns].reshape(-1, negative_tokens.shape[-1])[encoded.reshape(-1).cpu()]
