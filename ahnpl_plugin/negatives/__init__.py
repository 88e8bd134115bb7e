"""Text hard negatives for AHNPL: a fast, offline, reproducible generator (spaCy tagger + rules).

Per caption it writes AHNPL's five negatives (``relation``, ``adj_swap``, ``adj``, ``noun``,
``verb``; fields ``<type>_aug_caption``) and ``valid_caption`` = [1, one 0/1 per type]; an
invalid negative is ``"###"``. NegCLIP's swap types are extra selectable types.

    >>> from ahnpl_plugin.negatives import generate_negatives
    >>> generate_negatives(["A dog on a bed."])[0]["relation_aug_caption"]
    'A bed on a dog.'

CLI: ``python -m ahnpl_plugin.negatives --input IN --output OUT.jsonl`` (see ``--help``).
Importing this package is cheap: spaCy is imported when negatives are generated, torch and
transformers only on the ``fill_mask_model`` path, LAVIS never.
"""

from __future__ import annotations

from ahnpl_plugin.contract import AHNPL_TYPES, ALL_TYPES, INVALID, NEGCLIP_TYPES, field_name
from ahnpl_plugin.negatives.tagger import default_spacy_model

# Version of the generator's output: bumped whenever the same captions and seed would give
# different negatives (rules, shipped vocabulary, random stream), so stored negatives can say
# which generator made them. 2.0 added the parse-based "v2" rules (the default); its "v1" rules
# give version 1.0's output unchanged. 2.1: the v2 rules' second pass (idioms, food colours,
# agreement, verb frames, capitals; quality/negatives_audit/README.md). 2.2: the v2 rules' swaps move
# only vocabulary words by default (relation: nouns, adj_swap: adjectives; ``swap_words="known"``;
# "any" gives 2.1's) and replacements skip words that stay true of the image. 2.3: verb rules from
# the two-reader round 15 (co-occurring acts and postures, intent frames, misread nouns). 2.4
# (rounds 20-31): a relation swap moves each phrase with the modifiers that follow it and none that
# would stay behind, and no facing, apart or ridden-and-ground pair; noun replacements skip halves of
# names, misread words and objects of the same room or dish; verb replacements skip overlapping acts,
# past forms, negated or "or" captions and idioms (rounds 27-29). 2.5 (rounds 32-37): noun + noun
# names replaced whole, "other" pairs, up/down before a pronoun. 2.6: a verb negative for captions
# that had none: "in" an enclosure -> "outside" ("a cat in a car" -> "outside a car", round 38);
# every 2.5 negative stays as it was. 2.7: a relation negative for captions that had none: a second
# try that may also move the concrete objects of ``swaps.EXTRA_SWAP_OBJECTS`` ("a toothbrush",
# "a ramp", "an enclosure"; rounds 41-42); every 2.6 negative stays as it was. 2.8: a third relation
# try for captions that still had none: two phrases of different number, one the subject, swapped
# with the verb made to agree ("Two ducks are floating in a pond" -> "A pond is floating in two
# ducks"; rounds 43-44); every 2.7 negative stays as it was. 2.9 (round 46's readers, the first
# fresh 300-item verb round since round 37): no verb of a noun the tagger misreads ("cake
# frosting", "Park benches"), of the viewer ("We see") or of an all-caps caption; skiing and
# snowboarding, a ball game's acts, jumping and running overlap; no "on a screen", "from under",
# "under their arms", "into a mirror" to invert; rounds 47-49 and a code review added more (README).
# 2.10: a noun negative for captions that had none (round 53's recall reading): a noun the mass-noun
# rule misread ("A black and orange cat", "Man playing tennis") or a room for another ("A bathroom"
# -> "A kitchen"); else a fixture of another room for furniture in a room; last an animal for a
# person where the caption names no animal ("Two people" -> "Two horses"); rounds 54-58. "speaker"
# is never a replacement (a performer is one, and has one): 184 of 2.9's 32,508 noun negatives on the
# Karpathy test and val2017 captions change. Verb (round 52's readers): no other way of
# moving fast for "passing/zooming by", carrying/pushing and hitting/pushing overlap, nothing
# inverted under the sky, on a wall or in traffic, nouns read as verbs by where they stand
# ("baggage claim track", "broccoli and cauliflower"), holding overlaps pulling: 2,411 of 31,864
# verb negatives change, 330 of them dropped; rounds 59-64 and a code review. With a plausibility margin, a rejection is final: no
# fallback is tried after it (a margin only removes negatives).
# 2.11: a relation negative for captions that had none: a fourth try that may also move the
# scenery, objects, food and people of ``swaps.LATE_SWAP_OBJECTS`` ("A red plane flying through a
# blue sky" -> "A blue sky flying through a red plane"), and a fifth that does so with the verb made
# to agree; no bare singular or possessive phrase, no description left behind (rounds 65-71); every
# 2.10 relation negative stays as it was. Noun: a tier of COCO's own two-word names
# (``replacements.NAME_SWAPS``: "fire hydrant" -> "parking meter") after the first fallback tier,
# so 398 of 2.10's fallback negatives change (rounds 68, 70, 72). Adj: an attribute of no
# replaced kind -> its one opposite ("male" -> "female", "outdoor" -> "indoor"; round 74). Round
# 73's readers (the whole relation type): no camera the picture is taken with, no person "on" a
# phone, no screen and what faces it, no "mounted on"/"races"/"grazing" ground, no doubled word or
# "his a", no "along" after no motion: 244 earlier relation negatives dropped, 58 changed. Rounds
# 78-79 (adj and verb as whole types): no attribute of a name ("open field"), "empty" things are not
# "busy", an animal's age is young or old; five more overlapping acts (374 verb negatives drawn
# again). A margin's rejection of a relation try is final, as for the noun fallbacks.
# 2.12: relation only. Resting on something is no mutual act: "laying"/"leaning" on or in a thing is
# swapped ("A cat laying on a big bed" -> "A big bed laying on a cat"), "against" and "laying his
# head on" still are not; the fourth and fifth tries may also move ``swaps.CONCRETE_SWAP_OBJECTS``
# (freezer, carriage, railing, pastries, bride...) and the phrase a picture's opening frame holds
# ("a blurry photo of | a baseball player holding a bat"), and swap a container with what fills it
# ("A vase filled with red flowers" -> "Red flowers filled with a vase"); a bare "bed", "school" or
# "home" after a preposition is an idiom, never moved; people resting on people stay mutual; no
# frame is kept where the picture is a thing in the scene (rounds 83-87 and a review). 1,048
# relation negatives for captions that had none, 149 changed and 18 dropped on the 46,540 Karpathy
# test and val2017 captions. Noun: "rocking chair" and "prop plane" are names (round 86).
__version__ = "2.14"

__all__ = [
    "AHNPL_TYPES", "NEGCLIP_TYPES", "ALL_TYPES", "INVALID", "field_name", "default_spacy_model",
    "generate_negatives", "NegativeGenerator", "negatives_header", "NegativesError", "category_names", "__version__",
]


def __getattr__(name: str):
    # The generator pulls in the rules and vocabulary; load them on first use only.
    if name in ("generate_negatives", "NegativeGenerator", "negatives_header"):
        from ahnpl_plugin.negatives import generator

        return getattr(generator, name)
    if name == "NegativesError":
        from ahnpl_plugin.errors import NegativesError

        return NegativesError
    if name == "category_names":
        from ahnpl_plugin.negatives.vocabulary import category_names

        return category_names
    raise AttributeError(f"module 'ahnpl_plugin.negatives' has no attribute {name!r}")
