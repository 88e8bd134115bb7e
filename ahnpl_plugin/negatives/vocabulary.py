"""Replacement vocabularies: curated word lists by category, shipped with the package (offline).

A category is a list of words of the same kind and role ("colour" adjectives, "animal" nouns,
"transitive_verb" verbs); a replacement stays inside the category of the word it replaces
(colour -> colour). ``relation`` is the list of spatial relation phrases (multi-word allowed, each
phrase is one unit: "to the left of"), with a shipped table of opposites ("above" -> "below").

Category names (role: names)::

    adjective: colour (alias color), material, size, shape, state, age, pattern, count, quality
    noun:      animal, person, vehicle, food, furniture, tableware, electronics, appliance,
               clothing, accessory, sports, place, plant, figure, object
    verb:      transitive_verb, intransitive_verb
    relation:  relation

``quality`` (generic adjectives) is also the pool for adjectives of unknown kind, ``object`` the
pool for nouns of unknown kind; a verb's pool is chosen by its context (an object noun phrase
follows -> transitive_verb, else intransitive_verb). ``figure`` holds geometric shape nouns
(circle, square, triangle...); ``shape`` holds shape adjectives (round, square...).

Overrides (the ``vocabulary`` argument): ``{"colour": [...]}`` replaces a shipped list;
``{"noun:tool": [...]}`` (role prefix) adds a new category. Words are single lower-case base
forms (singular nouns, bare verbs); relations are phrases.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources

from ahnpl_plugin.data.jsonio import parse_json
from ahnpl_plugin.negatives.inflection import pluralize, verb_forms

ROLES: tuple[str, ...] = ("adjective", "noun", "verb")
RELATION = "relation"
ALIASES: dict[str, str] = {"color": "colour"}

# Fallback pools for words whose kind the vocabulary does not know.
UNKNOWN_ADJECTIVE_POOL = "quality"
UNKNOWN_NOUN_POOL = "object"
TRANSITIVE_POOL = "transitive_verb"
INTRANSITIVE_POOL = "intransitive_verb"


def _shipped(name: str) -> dict:
    """A JSON data file of this package (``data/<name>``)."""
    text = resources.files("ahnpl_plugin.negatives").joinpath("data", name).read_text(encoding="utf-8")
    return parse_json(text, f"ahnpl_plugin/negatives/data/{name}")


def _phrase(text: str) -> str:
    """Lower-case phrase with single spaces."""
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class Vocabulary:
    """Word lists by category plus the tables that keep replacements meaningful and grammatical."""

    categories: dict[str, tuple[str, tuple[str, ...]]]  # name -> (role, words)
    relations: tuple[str, ...]
    relation_opposites: dict[str, str]
    synonyms: tuple[frozenset[str], ...]
    hypernyms: dict[str, frozenset[str]]
    compound_nouns: tuple[tuple[str, ...], ...]
    frame_nouns: frozenset[str]
    frame_adjectives: frozenset[str]
    partitive_nouns: frozenset[str]
    irregular_plural: dict[str, str]
    uncountable: frozenset[str]
    irregular_verbs: dict[str, list[str]]
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def load(cls, overrides: Mapping[str, Sequence[str]] | None = None) -> "Vocabulary":
        """The shipped vocabulary with ``overrides`` applied (see the module docstring)."""
        data = _shipped("vocabulary.json")
        inflections = _shipped("inflections.json")
        categories: dict[str, tuple[str, tuple[str, ...]]] = {}
        for role in ROLES:
            for name, words in data[role].items():
                categories[name] = (role, tuple(words))
        relations = tuple(_phrase(p) for p in data[RELATION])
        for key, words in (overrides or {}).items():
            name, role, words = _check_override(key, words, categories)
            if role == RELATION:
                relations = tuple(words)
            else:
                categories[name] = (role, tuple(words))
        return cls(
            categories=categories,
            relations=relations,
            relation_opposites={_phrase(a): _phrase(b) for a, b in data["relation_opposites"].items()},
            synonyms=tuple(frozenset(group) for group in data["synonyms"]),
            hypernyms={k: frozenset(v) for k, v in data["hypernyms"].items()},
            compound_nouns=tuple(tuple(c.split()) for c in data["compound_nouns"]),
            frame_nouns=frozenset(data["frame_nouns"]),
            frame_adjectives=frozenset(data["frame_adjectives"]),
            partitive_nouns=frozenset(data["partitive_nouns"]),
            irregular_plural=dict(inflections["plural"]),
            uncountable=frozenset(inflections["uncountable"]),
            irregular_verbs=dict(inflections["verb_forms"]),
        )

    # ------------------------------------------------------------------ lookups
    def words(self, category: str) -> tuple[str, ...]:
        """The words of a category (empty if it does not exist)."""
        return self.categories.get(category, ("", ()))[1]

    @cached_property
    def count_words(self) -> frozenset[str]:
        """Words of the ``count`` category ("two", "several", "many"): quantities."""
        return frozenset(self.words("count"))

    def category_names(self, role: str) -> tuple[str, ...]:
        return tuple(n for n, (r, _) in self.categories.items() if r == role)

    @cached_property
    def _category_index(self) -> dict[str, dict[str, str]]:
        """role -> word -> category; a word listed twice in a role keeps its last category, so an
        override or added category wins over a shipped one."""
        index: dict[str, dict[str, str]] = {role: {} for role in ROLES}
        for name, (role, words) in self.categories.items():
            for word in words:
                index[role][word] = name
        return index

    def category_of(self, word: str, role: str) -> str | None:
        """Category of a lower-case base word in a role, or None when the vocabulary does not know it."""
        return self._category_index[role].get(word)

    @cached_property
    def _singular_of_plural(self) -> dict[str, str]:
        table = {plural: singular for singular, plural in self.irregular_plural.items()}
        for word in self._category_index["noun"]:
            table.setdefault(self.plural(word), word)
        return table

    def singular(self, noun: str) -> str:
        """Singular of a known plural noun ("dogs" -> "dog", "people" -> "person"); else unchanged."""
        return self._singular_of_plural.get(noun, noun)

    def plural(self, noun: str) -> str:
        return pluralize(noun, self.irregular_plural)

    def forms(self, verb: str) -> tuple[str, str, str, str, str]:
        """(base, 3sg, past, gerund, participle) of a base verb."""
        return verb_forms(verb, self.irregular_verbs)

    @cached_property
    def _base_of_form(self) -> dict[str, str]:
        table: dict[str, str] = {}
        for base in list(self.irregular_verbs) + list(self._category_index["verb"]):
            for form in self.forms(base):
                table.setdefault(form, base)
        return table

    def verb_base(self, form: str) -> str | None:
        """Base of a known verb form ("sitting" -> "sit"), None when unknown."""
        return self._base_of_form.get(form)

    def memoized(self, key, compute):
        """``compute()`` once per key for this vocabulary (replacement pools, exclusion sets)."""
        try:
            return self._cache[key]
        except KeyError:
            value = self._cache[key] = compute()
            return value

    def excluded_replacements(self, word: str) -> frozenset[str]:
        """Words that must not replace ``word``: itself, its synonyms, its hypernyms and hyponyms."""
        return self.memoized(("excluded", word), lambda: self._excluded(word))

    def _excluded(self, word: str) -> frozenset[str]:
        excluded = {word}
        for group in self.synonyms:
            if word in group:
                excluded |= group
        for general, specifics in self.hypernyms.items():
            if word == general:
                excluded |= specifics
            elif word in specifics:
                excluded.add(general)
        return frozenset(excluded)

    @cached_property
    def relation_index(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """first word -> relation phrases (as word tuples) starting with it, longest first."""
        index: dict[str, list[tuple[str, ...]]] = {}
        for phrase in self.relations:
            words = tuple(phrase.split())
            index.setdefault(words[0], []).append(words)
        return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in index.items()}

    @cached_property
    def compound_index(self) -> dict[str, tuple[tuple[str, ...], ...]]:
        """first word -> compound nouns starting with it, longest first."""
        index: dict[str, list[tuple[str, ...]]] = {}
        for words in self.compound_nouns:
            index.setdefault(words[0], []).append(words)
        return {k: tuple(sorted(v, key=len, reverse=True)) for k, v in index.items()}


def category_names() -> dict[str, tuple[str, ...]]:
    """role -> shipped category names (plus ``relation``), for documentation and error messages."""
    data = _shipped("vocabulary.json")
    names = {role: tuple(data[role]) for role in ROLES}
    names[RELATION] = (RELATION,)
    return names


def _check_override(key, words, categories) -> tuple[str, str, list[str]]:
    """Validate one ``vocabulary`` entry into (category name, role, cleaned words)."""
    if not isinstance(key, str):
        raise ValueError(f"vocabulary key {key!r} is not a string")
    if isinstance(words, str) or not isinstance(words, Sequence):
        raise ValueError(f"vocabulary[{key!r}] must be a list of strings, got {type(words).__name__}")
    cleaned: list[str] = []
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"vocabulary[{key!r}][{i}] must be a non-empty string, got {word!r}")
        cleaned.append(_phrase(word))
    name = ALIASES.get(key, key)
    if name == RELATION:
        return name, RELATION, cleaned
    if ":" in name:
        role, _, name = name.partition(":")
        if role not in ROLES or not name:
            raise ValueError(f"vocabulary key {key!r}: role prefix must be one of {', '.join(ROLES)} (e.g. 'noun:tool')")
        if name in categories and categories[name][0] != role:
            raise ValueError(f"vocabulary key {key!r}: category {name!r} already exists with role {categories[name][0]!r}")
    elif name in categories:
        role = categories[name][0]
    else:
        valid = ", ".join(list(categories) + [RELATION])
        raise ValueError(
            f"unknown vocabulary category {key!r}; valid: {valid} (add a new one as 'noun:NAME', "
            f"'adjective:NAME' or 'verb:NAME')"
        )
    for i, word in enumerate(cleaned):
        if " " in word:
            raise ValueError(f"vocabulary[{key!r}][{i}] = {word!r}: {role} entries are single words")
    return name, role, cleaned
