"""English inflection for replacement words: plural nouns, verb forms, "a"/"an", letter case.

Replacement words come from the vocabularies as base forms ("dog", "sit"); a negative must keep the
caption's grammar ("dogs" -> "cats", "sitting" -> "standing", "a red apple" -> "an orange apple"),
so the chosen word is inflected like the word it replaces. Rules cover regular words; the
irregular ones of the shipped vocabulary (and a few common others) are in ``data/inflections.json``
and reach these functions through the ``irregular`` tables a :class:`Vocabulary` holds.
"""

from __future__ import annotations

import re

VOWELS = frozenset("aeiou")

# Penn Treebank verb tag -> index into (base, 3sg, past, gerund, participle).
VERB_FORM_OF_TAG = {"VB": 0, "VBP": 0, "VBZ": 1, "VBD": 2, "VBG": 3, "VBN": 4}

_SIBILANT_END = ("s", "x", "z", "ch", "sh")
# Words starting with a vowel letter but a consonant sound ("a unicorn", "a European", "a one-way").
_VOWEL_LETTER_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "ute", "ura", "uri", "ubi", "uku", "eu", "ewe", "one", "once")
# Words starting with a silent h ("an hour").
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")
# Letters whose spoken name starts with a vowel sound ("an SUV", "an X-ray", but "a TV").
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")


def pluralize(noun: str, irregular: dict[str, str]) -> str:
    """Plural of a lower-case singular noun ("bus" -> "buses", "berry" -> "berries", "man" -> "men")."""
    if noun in irregular:
        return irregular[noun]
    if noun.endswith(_SIBILANT_END):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def _is_monosyllabic_cvc(verb: str) -> bool:
    """True for one-syllable verbs ending consonant-vowel-consonant ("sit", "hug"): they double the
    last consonant before -ing/-ed. w, x and y are never doubled."""
    if len(verb) < 3 or verb[-1] in "wxy" or verb[-1] in VOWELS:
        return False
    if verb[-2] not in VOWELS or verb[-3] in VOWELS:
        return False
    return len(re.findall(r"[aeiouy]+", verb)) == 1


def verb_forms(base: str, irregular: dict[str, list[str]]) -> tuple[str, str, str, str, str]:
    """(base, 3rd person singular, past, gerund, past participle) of a lower-case base verb."""
    if base in irregular:
        third, past, gerund, participle = irregular[base]
        return base, third, past, gerund, participle
    if base.endswith(_SIBILANT_END) or base.endswith("o"):
        third = base + "es"
    elif base.endswith("y") and base[-2:-1] not in VOWELS:
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    if base.endswith("ie"):
        gerund = base[:-2] + "ying"
    elif base.endswith(("ee", "ye", "oe")) or not base.endswith("e"):
        gerund = base + base[-1] + "ing" if _is_monosyllabic_cvc(base) else base + "ing"
    else:
        gerund = base[:-1] + "ing"
    if base.endswith("e"):
        past = base + "d"
    elif base.endswith("y") and base[-2:-1] not in VOWELS:
        past = base[:-1] + "ied"
    elif _is_monosyllabic_cvc(base):
        past = base + base[-1] + "ed"
    else:
        past = base + "ed"
    return base, third, past, gerund, past


def article_for(word: str) -> str:
    """ "a" or "an" before ``word``, by its first sound (heuristic spelling rules)."""
    if not word:
        return "a"
    if len(word) > 1 and word.isupper() and word.isalpha():
        return "an" if word[0].lower() in _VOWEL_SOUND_LETTERS else "a"
    lower = word.lower()
    if lower[0].isdigit():
        number = re.match(r"\d+", lower).group()
        return "an" if number.startswith("8") or number in ("11", "18") or re.fullmatch(r"1[18]\d{2}", number) else "a"
    if lower.startswith(_SILENT_H):
        return "an"
    if lower.startswith(_VOWEL_LETTER_CONSONANT_SOUND):
        return "a"
    return "an" if lower[0] in VOWELS else "a"


def match_case(word: str, model: str) -> str:
    """``word`` with the letter case of ``model``: "RED" -> "BLUE", "Red" -> "Blue", "red" -> "blue"."""
    if len(model) > 1 and model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word
