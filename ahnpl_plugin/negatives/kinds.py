"""Names of the negative types, their record fields and the invalid marker (the shared contract).

AHNPL's five types come first, in the fixed order of ``valid_caption``; the NegCLIP swap types are
extra, selectable types for comparisons with NegCLIP.
"""

from __future__ import annotations

from collections.abc import Iterable

INVALID = "###"

AHNPL_TYPES: tuple[str, ...] = ("relation", "adj_swap", "adj", "noun", "verb")

# NegCLIP (Yuksekgonul et al., ICLR 2023) swap perturbations: two noun phrases, two verb phrases,
# two singular nouns, two plural nouns, two adjectives, two adverbs, anywhere in the caption.
NEGCLIP_TYPES: tuple[str, ...] = (
    "negclip_np", "negclip_vp", "negclip_nn", "negclip_nns", "negclip_adj", "negclip_adv",
)

ALL_TYPES: tuple[str, ...] = AHNPL_TYPES + NEGCLIP_TYPES

# Names the CLI and the API accept for whole groups of types.
TYPE_GROUPS: dict[str, tuple[str, ...]] = {"ahnpl": AHNPL_TYPES, "negclip": NEGCLIP_TYPES, "all": ALL_TYPES}


def field_name(negative_type: str) -> str:
    """Record field of a negative type: ``relation`` -> ``relation_aug_caption``."""
    if negative_type not in ALL_TYPES:
        raise ValueError(f"unknown negative type {negative_type!r}; valid: {', '.join(ALL_TYPES)}")
    return f"{negative_type}_aug_caption"


def resolve_types(types: Iterable[str] | str) -> tuple[str, ...]:
    """Validate a selection of types (names or group names, in order) into a tuple of type names.

    Group names (``ahnpl``, ``negclip``, ``all``) expand in place; a type named twice is an error,
    because its field would be written twice with a single mask entry per field.
    """
    if isinstance(types, str):
        types = [types]
    resolved: list[str] = []
    for name in types:
        expanded = TYPE_GROUPS.get(name, (name,))
        for t in expanded:
            if t not in ALL_TYPES:
                valid = ", ".join(ALL_TYPES + tuple(TYPE_GROUPS))
                raise ValueError(f"unknown negative type {t!r}; valid: {valid}")
            if t in resolved:
                raise ValueError(f"negative type {t!r} selected twice")
            resolved.append(t)
    return tuple(resolved)


# Rule sets: "v1" is the tagger-only generator of version 1.0 (its output unchanged, the recipe the
# published results used); "v2" adds spaCy's dependency parse for precision (parsed.py).
RULES: tuple[str, ...] = ("v1", "v2")
DEFAULT_RULES = "v2"


def check_rules(rules: str) -> str:
    if rules not in RULES:
        raise ValueError(f"unknown rules {rules!r}; valid: {', '.join(RULES)}")
    return rules
