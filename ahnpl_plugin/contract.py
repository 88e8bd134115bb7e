"""The hard-negative contract: the one place that says what a negative, a record and a batch are.

Everything that makes, stores, reads, batches or trains on hard negatives imports its names from
here: the generator (:mod:`ahnpl_plugin.negatives`), the negatives-file join
(:mod:`ahnpl_plugin.data.negatives_join`), the synthetic world, every training dataset, both
models and the loss. A type name that one of them accepts, all of them accept
(``tests/test_contract.py`` checks it property-style).

**Types.** AHNPL's five types come first, in the fixed order of ``valid_caption``; the NegCLIP swap
types are extra types for comparisons with NegCLIP. Configs may name a group (``ahnpl``,
``negclip``, ``all``) wherever they take a list of types.

**Record** (one caption, as written by ``python -m ahnpl_plugin.negatives`` and read by every
dataset): ``image``, ``caption``, ``image_id``, one field ``<type>_aug_caption`` per type (the
negative, or :data:`INVALID` when the generator could not make one), and ``valid_caption`` =
``[1]`` + one 0/1 flag per AHNPL type in AHNPL order (a NegCLIP type's validity is its text not
being :data:`INVALID`).

**Batch** (what :func:`collate` makes and :func:`check_negatives` checks; the models read it):

=========================  =========================================================  ========
key                        value                                                      device
=========================  =========================================================  ========
``image``                  float [B, 3, H, W]                                         model
``text_input``             B captions (str)                                           host
``hard_negatives``         B lists of K negatives (str; :data:`INVALID` where masked)  host
``hard_negative_mask``     bool [B, K] (True = the negative exists)                   host
``hard_negative_types``    the K type names, in column order                          host
``index`` / ``key``        long [B] dataset rows (map-style) / B shard keys (streams)  model
``image_id``               B str (BLIP: captions of one image are positives)          model
``text_tokens`` ...        token ids made in loader workers (:data:`TOKEN_KEYS`)      host
=========================  =========================================================  ========

The model plans its text pass on the host (which negatives to encode), so the keys of
:data:`HOST_KEYS` stay on the CPU when the runner moves a batch to the GPU (moving them would cost
a device sync per step).

Pure Python (torch is imported inside the two functions that make tensors), so every floor of the
package may import it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

# ------------------------------------------------------------------------------------ types
INVALID = "###"  # the text of a negative the generator could not make (mask 0)

AHNPL_TYPES: tuple[str, ...] = ("relation", "adj_swap", "adj", "noun", "verb")

# NegCLIP (Yuksekgonul et al., ICLR 2023) swap perturbations: two noun phrases, two verb phrases,
# two singular nouns, two plural nouns, two adjectives, two adverbs, anywhere in the caption.
NEGCLIP_TYPES: tuple[str, ...] = (
    "negclip_np", "negclip_vp", "negclip_nn", "negclip_nns", "negclip_adj", "negclip_adv",
)

ALL_TYPES: tuple[str, ...] = AHNPL_TYPES + NEGCLIP_TYPES

# Names a config, the CLI or the API accepts for whole groups of types.
TYPE_GROUPS: dict[str, tuple[str, ...]] = {"ahnpl": AHNPL_TYPES, "negclip": NEGCLIP_TYPES, "all": ALL_TYPES}

# ----------------------------------------------------------------------------------- record
FIELD_SUFFIX = "_aug_caption"
VALID_FIELD = "valid_caption"


def field_name(negative_type: str) -> str:
    """Record field of a negative type: ``relation`` -> ``relation_aug_caption``."""
    if negative_type not in ALL_TYPES:
        raise ValueError(f"unknown negative type {negative_type!r}; valid: {', '.join(ALL_TYPES)}")
    return negative_type + FIELD_SUFFIX


def resolve_types(types: Iterable[str] | str) -> tuple[str, ...]:
    """Validate a selection of types (names or group names, in the given order) into type names.

    Group names expand in place; a type named twice is an error (its field would be written twice
    with one mask entry). Raises ValueError naming the unknown type and listing the valid names.
    """
    if isinstance(types, str):
        types = [types]
    resolved: list[str] = []
    for name in types:
        for t in TYPE_GROUPS.get(name, (name,)):
            if t not in ALL_TYPES:
                raise ValueError(f"unknown negative type {t!r}; valid: {', '.join(ALL_TYPES + tuple(TYPE_GROUPS))}")
            if t in resolved:
                raise ValueError(f"negative type {t!r} selected twice")
            resolved.append(t)
    return tuple(resolved)


def training_types(types: Iterable[str] | str) -> tuple[str, ...]:
    """The types a loss trains on (one theta each): :func:`resolve_types`, and in contract order.

    The order is fixed so that theta's entries mean the same in every run and checkpoint.
    """
    if types is None or (not isinstance(types, str) and not isinstance(types, Iterable)):
        raise ValueError(f"negative_types must be a list of type names or a group name, got {types!r}")
    resolved = resolve_types(types)
    ordered = tuple(t for t in ALL_TYPES if t in resolved)
    if resolved != ordered:
        raise ValueError(
            f"negative_types {list(resolved)} must follow the contract order ({', '.join(ALL_TYPES)}): "
            f"write {list(ordered)}"
        )
    return resolved


def valid_flags(texts: dict[str, str]) -> list[int]:
    """``valid_caption`` of a record whose negatives are ``{type: text}``: ``[1]`` + one flag per
    AHNPL type, in AHNPL order (0 for a type the record lacks or marks :data:`INVALID`)."""
    return [1] + [int(texts.get(t, INVALID) != INVALID) for t in AHNPL_TYPES]


def negative_columns(record: dict, negative_types: Sequence[str]) -> tuple[list[str], list[bool]]:
    """The K negatives of a record and their validity, in ``negative_types`` order.

    A negative is valid when its text is a non-empty string other than :data:`INVALID` and, for an
    AHNPL type of a record with ``valid_caption``, its flag there is 1.
    """
    flags = record.get(VALID_FIELD)
    texts, mask = [], []
    for t in negative_types:
        text = record.get(t + FIELD_SUFFIX, INVALID)
        ok = isinstance(text, str) and text.strip() != "" and text != INVALID
        if ok and flags is not None and t in AHNPL_TYPES:
            ok = bool(flags[1 + AHNPL_TYPES.index(t)])
        texts.append(text if ok else INVALID)
        mask.append(ok)
    return texts, mask


# ------------------------------------------------------------------------------------ batch
# Token ids made in the loader's workers (ahnpl_plugin.models.loader_tokens), planned on the host.
TOKEN_KEYS = ("text_tokens", "hard_negative_tokens", "text_token_mask", "hard_negative_token_mask")
# Batch entries that stay on the host when the runner moves a batch to the model's device.
HOST_KEYS = frozenset({"hard_negative_mask", *TOKEN_KEYS})


def collate(samples: list[dict], negative_types: Sequence[str]) -> dict:
    """One batch (see the module docstring) from dataset samples holding ``image``, ``text_input``,
    ``hard_negatives`` (K str), ``hard_negative_mask`` (K bool) and ``image_id``; ``index`` (map-style
    datasets) becomes a long tensor, ``key`` (shard streams) a list."""
    import torch

    batch = {
        "image": torch.stack([s["image"] for s in samples]),
        "text_input": [s["text_input"] for s in samples],
        "hard_negatives": [s["hard_negatives"] for s in samples],
        "hard_negative_mask": torch.tensor(
            [s["hard_negative_mask"] for s in samples], dtype=torch.bool
        ).reshape(len(samples), len(negative_types)),
        "hard_negative_types": tuple(negative_types),
    }
    if samples and "index" in samples[0]:
        batch["index"] = torch.tensor([s["index"] for s in samples])
    if samples and "key" in samples[0]:
        batch["key"] = [s["key"] for s in samples]
    batch["image_id"] = [s["image_id"] for s in samples]
    return batch


def check_mask(mask, batch: int, num_types: int, name: str = "samples['hard_negative_mask']"):
    """``mask`` ([B, K], bool or 0/1 integers, a tensor or nested lists) as a bool tensor on its own
    device; ValueError naming ``name``, the expected shape and the first bad entry otherwise."""
    import torch

    mask = torch.as_tensor(mask)
    if tuple(mask.shape) != (batch, num_types):
        raise ValueError(f"{name} must have shape [B, K] = {(batch, num_types)}, got {tuple(mask.shape)}")
    if mask.dtype == torch.bool:
        return mask
    if mask.is_floating_point() or mask.is_complex():
        raise ValueError(f"{name} must be bool or integer 0/1, got dtype {mask.dtype}")
    bad = (mask != 0) & (mask != 1)
    if bool(bad.any()):
        index = tuple(bad.nonzero()[0].tolist())
        raise ValueError(f"{name} must hold only 0/1, got {mask[index].item()} at index {index}")
    return mask != 0


def check_negatives(captions: list[str], negatives, mask, num_types: int):
    """The batch check both models run: ``(rows, mask)`` with ``rows`` B lists of K str and ``mask``
    a bool [B, K] CPU tensor; ValueError naming the key and index of the first problem (a valid
    entry must be a real caption, not :data:`INVALID`)."""
    batch = len(captions)
    if not isinstance(negatives, (list, tuple)) or len(negatives) != batch:
        got = len(negatives) if isinstance(negatives, (list, tuple)) else type(negatives).__name__
        raise ValueError(f"samples['hard_negatives'] must be a list of B={batch} lists, got {got}")
    rows = []
    for i, row in enumerate(negatives):
        if not isinstance(row, (list, tuple)) or len(row) != num_types:
            got = len(row) if isinstance(row, (list, tuple)) else type(row).__name__
            raise ValueError(
                f"samples['hard_negatives'][{i}] must hold K={num_types} captions (one per model.loss."
                f"negative_types), got {got}"
            )
        for k, text in enumerate(row):
            if not isinstance(text, str):
                raise ValueError(f"samples['hard_negatives'][{i}][{k}] must be a str, got {type(text).__name__}")
        rows.append(list(row))
    import torch

    mask = check_mask(torch.as_tensor(mask).cpu(), batch, num_types)  # host work: one copy, no sync per use
    for i, k in mask.nonzero().tolist():
        if rows[i][k].strip() in ("", INVALID):
            raise ValueError(
                f"samples['hard_negatives'][{i}][{k}] is {rows[i][k]!r} but samples['hard_negative_mask'][{i}][{k}] is 1"
            )
    return rows, mask


def select_types(negatives, mask, batch_types: Sequence[str], wanted_types: Sequence[str]):
    """The columns of ``wanted_types`` (the loss's types) out of a batch carrying ``batch_types``.

    Datasets carry every negative type they have, named in ``hard_negative_types``; the loss config
    decides which ones train. ValueError naming a wanted type the data lacks.
    """
    import torch

    batch_types = list(batch_types)
    missing = [t for t in wanted_types if t not in batch_types]
    if missing:
        raise ValueError(f"model.loss.negative_types asks for {missing} but the dataset provides only {batch_types}")
    columns = [batch_types.index(t) for t in wanted_types]
    rows = [[row[c] for c in columns] for row in negatives]
    return rows, torch.as_tensor(mask)[:, columns]
