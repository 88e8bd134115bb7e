"""Hard negatives of the training captions: made by the project's generator, then vetted here.

A generated negative is marked invalid (mask 0, text "###") when
- it mentions a held-out (colour, shape) combination: otherwise the only place training ever shows
  a held-out pair is as a negative, the model learns "held-out pair = false", and it scores below
  chance on the held-out test set (measured);
- it is true of its image (e.g. an adjective swap inside one noun phrase, "a red small circle"):
  such a "negative" would teach the model to reject a correct caption.
Negatives the world's parser cannot read are kept as the generator made them. A dropped negative
is regenerated with other generator seeds (``retries``), so fewer training slots stay empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ahnpl_plugin.contract import INVALID, VALID_FIELD, field_name, valid_flags
from ahnpl_plugin.synthetic.captions import caption_is_true, mentioned_pairs
from ahnpl_plugin.synthetic.scenes import Scene
from ahnpl_plugin.synthetic.vocabulary import RELATION_PHRASES, SIZES

def generator_vocabulary(colours: Sequence[str], shapes: Sequence[str], relations: Sequence[str]) -> dict[str, list[str]]:
    """The replacement lists handed to the generator, so that its negatives speak the world's words.

    Keys are the generator's category names (ahnpl_plugin.negatives.vocabulary: adjective
    categories "colour" and "size", noun category "figure" for geometric shapes, and "relation");
    each list replaces the shipped one, so a colour is replaced by another world colour, a shape by
    another world shape, a relation phrase by another of the world's phrases.
    """
    return {
        "colour": list(colours),
        "size": list(SIZES),
        "figure": list(shapes),
        "relation": [RELATION_PHRASES[r] for r in relations],
    }


def vet_negative(negative: str, scene: Scene, heldout: set[tuple[str, str]]) -> str | None:
    """Why a generated negative must be dropped ("heldout" or "true"), or None to keep it."""
    if mentioned_pairs(negative) & heldout:
        return "heldout"
    if caption_is_true(negative, scene) is True:
        return "true"
    return None


@dataclass
class VettedNegatives:
    """Negative fields per record, counts per type, and the (record, type) slots dropped by vetting.

    Counts per type: "generated" (valid from the generator's first attempt), "dropped_heldout" and
    "dropped_true" (first-attempt negatives dropped), "replaced" (dropped slots filled by a retry
    with another generator seed), "unparsed_kept" (kept, not readable by the world's parser),
    "kept" (final valid negatives = generated - dropped + replaced).
    """

    records: list[dict]
    stats: dict[str, dict[str, int]]
    dropped: dict[str, list[int]] = field(default_factory=dict)


def _new_stats() -> dict[str, int]:
    keys = ("generated", "dropped_heldout", "dropped_true", "replaced", "unparsed_kept", "kept")
    return dict.fromkeys(keys, 0)


def vet_negatives(
    generated: list[dict],
    scenes: Sequence[Scene],
    heldout_pairs: Sequence[tuple[str, str]],
    types: Sequence[str],
) -> VettedNegatives:
    """Apply :func:`vet_negative` to every valid negative of the generator's output."""
    if len(generated) != len(scenes):
        raise ValueError(f"{len(generated)} negative records for {len(scenes)} scenes")
    heldout = {tuple(p) for p in heldout_pairs}
    result = VettedNegatives([], {t: _new_stats() for t in types}, {t: [] for t in types})
    for index, (fields, scene) in enumerate(zip(generated, scenes)):
        valid = list(fields.get("valid_caption", []))
        if len(valid) != len(types) + 1:
            raise ValueError(f"negatives of record {index}: valid_caption {valid} does not match types {list(types)}")
        record = {}
        for k, t in enumerate(types):
            key = field_name(t)
            if key not in fields:
                raise ValueError(f"negatives of record {index} lack {key!r}")
            text, ok = fields[key], int(valid[k + 1])
            if ok:
                stats = result.stats[t]
                stats["generated"] += 1
                reason = vet_negative(text, scene, heldout)
                if reason is None:
                    stats["kept"] += 1
                    stats["unparsed_kept"] += caption_is_true(text, scene) is None
                else:
                    stats[f"dropped_{reason}"] += 1
                    result.dropped[t].append(index)
                    ok = 0
            record[key] = text if ok else INVALID
        record[VALID_FIELD] = _record_flags(record, types)
        result.records.append(record)
    return result


def _record_flags(record: dict, types: Sequence[str]) -> list[int]:
    """The record's ``valid_caption`` in the contract's layout (AHNPL order, whatever ``types``)."""
    return valid_flags({t: record[field_name(t)] for t in types})


def retry_dropped(
    vetted: VettedNegatives,
    captions: Sequence[str],
    scenes: Sequence[Scene],
    heldout_pairs: Sequence[tuple[str, str]],
    types: Sequence[str],
    generate: Callable[..., list[dict]],
    seeds: Sequence[int],
) -> None:
    """Regenerate the dropped negatives with each seed in turn; keep the first that passes vetting.

    The generator's random choice (which colour, which shape) depends on its seed, so another seed
    often gives a negative without a held-out pair. Updates `vetted` in place.
    """
    heldout = {tuple(p) for p in heldout_pairs}
    for seed in seeds:
        for k, t in enumerate(types):
            todo = vetted.dropped[t]
            if not todo:
                continue
            again = generate([captions[i] for i in todo], types=(t,), seed=seed)
            still = []
            for index, fields in zip(todo, again):
                text = fields[field_name(t)]
                if fields["valid_caption"][1] and vet_negative(text, scenes[index], heldout) is None:
                    record = vetted.records[index]
                    record[field_name(t)] = text
                    record[VALID_FIELD] = _record_flags(record, types)
                    vetted.stats[t]["replaced"] += 1
                    vetted.stats[t]["kept"] += 1
                    vetted.stats[t]["unparsed_kept"] += caption_is_true(text, scenes[index]) is None
                else:
                    still.append(index)
            vetted.dropped[t] = still


def make_training_negatives(
    captions: Sequence[str],
    scenes: Sequence[Scene],
    *,
    heldout_pairs: Sequence[tuple[str, str]],
    types: Sequence[str],
    seed: int,
    retries: int,
    vocabulary: dict[str, list[str]],
    spacy_model: str | None,
    workers: int = 1,
) -> VettedNegatives:
    """Generate (ahnpl_plugin.negatives), vet, and retry (seeds seed+1 .. seed+retries) the
    negatives of every training caption."""
    from ahnpl_plugin.negatives import generate_negatives

    def generate(texts, *, types, seed):
        # rules v1: the synthetic world's recipe keeps generator 1.0's negatives (the v2 default is
        # the improved generator of issue 17, not what the synthetic results were made with)
        return generate_negatives(
            list(texts), types=tuple(types), seed=seed, spacy_model=spacy_model, workers=workers, vocabulary=vocabulary,
            rules="v1",
        )

    vetted = vet_negatives(generate(captions, types=types, seed=seed), scenes, heldout_pairs, types)
    retry_dropped(vetted, captions, scenes, heldout_pairs, types, generate, [seed + i for i in range(1, retries + 1)])
    return vetted


__all__ = [
    "INVALID", "VettedNegatives", "generator_vocabulary", "make_training_negatives", "retry_dropped",
    "vet_negative", "vet_negatives",
]
