"""The generator's rule sets (``--rules``). The negative types, their record fields and the
invalid marker are the package-wide contract: :mod:`ahnpl_plugin.contract`."""

from __future__ import annotations

# Rule sets: "v1" is the tagger-only generator of version 1.0 (its output unchanged, the recipe the
# published results used); "v2" adds spaCy's dependency parse for precision (parsed.py).
RULES: tuple[str, ...] = ("v1", "v2")
DEFAULT_RULES = "v2"


def check_rules(rules: str) -> str:
    if rules not in RULES:
        raise ValueError(f"unknown rules {rules!r}; valid: {', '.join(RULES)}")
    return rules
