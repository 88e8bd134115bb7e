"""What the dependency parse adds to an analysis: the ``v2`` rules' precision filters.

The ``v1`` rules see tags only; on real captions that splits compounds ("a snow | covered slope"),
takes non-adjectives for adjectives ("about to take off", "a locomotive/JJ"), swaps the members
of a coordination ("grey and orange" -> "orange and grey", same meaning) and edits quoted text and
names. With spaCy's parse (labels and heads on each :class:`Token`), :func:`refine` marks

- **fixed** words, never edited or moved alone: quoted text, proper names inside a sentence,
  hyphenated compounds ("double-decker"), numbers used as quantities ("two", "many");
- **units** for the ``relation`` swap: a noun phrase with everything the parse puts before its
  head ("a snow covered slope"), its "of" phrase ("a body of water") and its coordination ("a
  wooden bench and table"), so a swap moves whole objects;

and the candidate functions of :mod:`analysis` ask :func:`is_attribute`, :func:`is_main_verb` and
:func:`is_replaceable_noun` before taking a word. Pair filters for swaps (:func:`symmetric_between`,
:func:`coordinated`) and the final check on a written negative (:func:`new_doubled_word`,
:func:`keeps_fixed_text`) live here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from ahnpl_plugin.negatives.tokens import ADJECTIVE_TAGS, NOUN_TAGS, PROPER_NOUN_TAGS, VERB_TAGS, Token

QUOTES = frozenset({'"', "``", "''", "“", "”", "‘", "’"})
# Relations that say the same thing both ways round: "a dog next to a cat" = "a cat next to a dog".
SYMMETRIC_RELATIONS = frozenset({
    "next to", "beside", "besides", "near", "nearby", "and", "across from", "opposite",
    "alongside", "along with", "among", "amongst", "between", "close to", "together with", "adjacent to",
    "near to", "side by side with", "alongside of", "by",
})
# Words that say nothing about which phrase is where: copulas, posture verbs, "that", "right".
_LINKING_WORDS = frozenset({
    "is", "are", "was", "were", "be", "being", "been", "sits", "sit", "sitting", "stands", "stand", "standing",
    "lies", "lie", "lying", "lays", "laying", "parked", "located", "placed", "positioned", "situated", "seen",
    "shown", "pictured", "rests", "resting", "waits", "waiting", "poses", "posing", "posed", "that", "which",
    "who", "right", "just", "directly", "very", "closely", "together", "each", "other", "both",
})
# Words the tagger calls adjectives that do not describe a thing ("about to", "next to", "due").
NOT_ATTRIBUTES = frozenset({
    "about", "next", "due", "able", "unable", "likely", "alone", "else", "close", "ready", "sure", "present",
    "available", "full", "empty-handed", "fine", "ok", "okay", "such", "own", "many", "much", "few", "several",
    "other", "another", "same", "various", "numerous", "multiple", "plenty", "lots", "each", "every",
    "upside", "overhead", "down", "up", "inside", "outside", "alike", "ahead", "apart", "aside",
    # only after a verb ("is asleep"): "an asleep bear" is not English
    "asleep", "awake", "alive", "afloat", "ablaze", "aloft", "adrift",
})
# Words after which an adjective is half of one attribute: "old fashioned", "multi colored",
# "dark purple" (a shade word before a colour).
_ATTRIBUTE_SECOND_HALVES = frozenset({"fashioned", "fashion", "colored", "coloured", "style", "styled", "toned",
                                      "looking", "haired"})  # "odd looking", "curly haired"
SHADE_WORDS = frozenset({"dark", "light", "bright", "pale", "deep", "neon", "hot", "multi", "pastel", "navy",
                         "lush", "clear", "royal", "baby", "sky", "forest", "lime"})  # round 17: "lush green", "clear blue"
# Synonyms the v2 rules also keep apart (the shipped vocabulary's groups stay as they were, so the
# v1 rules keep their output).
EXTRA_SYNONYMS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("elegant", "fancy"), ("slope", "hill"), ("racket", "racquet"), ("tall", "large", "big", "high"),
    ("sofa", "couch"), ("photo", "picture", "photograph"), ("road", "street"), ("rock", "stone"),
    ("street", "sidewalk"), ("huge", "tall"), ("lay", "lie"), ("sit", "rest"),
    ("leap", "jump"), ("divide", "slice", "cut", "split"), ("look", "wait", "watch"), ("ride", "run"),
    ("table", "desk"), ("stare", "look", "gaze"), ("gaze", "watch"), ("lie", "lay", "sleep", "rest"),
    ("lean", "rest"), ("hold", "carry", "swing"),
    # 2.2: one thing, two names (round 11: "Motorcyclist on a bike" -> "motorcycle")
    ("bike", "motorcycle", "motorbike"), ("bike", "bicycle"), ("metal", "metallic", "steel", "iron"),
    ("round", "circular", "oval"), ("square", "rectangular"), ("spotted", "dotted"),
    # 2.2 (rounds 12-13): one act, two verbs ("return a volley" / "hit"; "tossing" / "flying a frisbee")
    ("return", "hit"), ("swing", "hit"), ("perch", "rest", "sit", "stand"), ("toss", "throw", "fly"),
    ("catch", "ride"), ("fly", "watch"), ("hold", "wear"),
    # 2.2 (round 14): "talking" / "hanging on a phone", "bathed" / "lying in sunlight", a window
    # "facing" / "watching" the street, a train "going" / "running" along a track
    ("talk", "hang"), ("bathe", "lie", "lay", "sit", "rest"), ("face", "watch", "look", "overlook"),
    ("go", "run", "travel", "move", "head", "ride", "drive", "roll", "come", "pass"),
    ("surf", "ride", "catch"), ("surf", "float", "swim"),  # a surfer rides, catches or floats on a wave
    # round 15: "mill around" / "walk around", "popping" / "riding a wheelie", "holding" / "eating a
    # banana", "jumping" / "riding his skateboard", sheep "eating grass" / "grazing"
    ("mill", "walk", "wander", "stroll"), ("pop", "ride", "do"), ("hold", "eat", "drink"), ("jump", "ride"),
    ("graze", "eat", "pull"),
    # round 16 (two readers): "launching" / "jumping into the air", "riding on skis" / "skiing", a
    # bus "pulling away" / "running away", "performing" / "throwing" a jump, horses "racing" /
    # "running", "roaming" / "running around", "catch" / "grab", clouds "spreading" / "running",
    # "working" / "surfing" on a computer
    ("launch", "jump", "leap", "fly"), ("ride", "ski"), ("ride", "skate", "skateboard"), ("ride", "snowboard"),
    ("pull", "go", "run", "drive", "move", "head"), ("perform", "do", "throw", "pull"), ("race", "run"),
    ("roam", "walk", "wander", "run", "mill"), ("catch", "grab"), ("spread", "run", "move", "roll"), ("work", "surf"),
    # round 17: skiers "riding" / "wearing" skis, skaters "riding" / "kicking" a board, an athlete
    # "performing" on a surfboard / "surfing"
    ("ride", "wear"), ("ride", "kick", "push"), ("perform", "surf", "skate", "ski", "skateboard", "snowboard"),
    ("stand", "walk"),  # round 17 (reader A): in a still photo an animal or person may be either
))


def _synonyms_by_word(groups: tuple[frozenset[str], ...]) -> dict[str, frozenset[str]]:
    """word -> the union of the groups it is in (itself included)."""
    out: dict[str, set[str]] = {}
    for group in groups:
        for word in group:
            out.setdefault(word, set()).update(group)
    return {word: frozenset(words) for word, words in out.items()}


# word -> every word of the EXTRA_SYNONYMS groups it is in (itself included): one lookup, not a scan
SYNONYMS_OF: dict[str, frozenset[str]] = _synonyms_by_word(EXTRA_SYNONYMS)


def synonyms_of(words: Iterable[str]) -> frozenset[str]:
    """The words of every :data:`EXTRA_SYNONYMS` group holding one of ``words``."""
    found = [SYNONYMS_OF[w] for w in words if w in SYNONYMS_OF]
    return frozenset().union(*found) if found else frozenset()

# Generator 2.2 (round 11 of quality/negatives_audit/, COCO Karpathy test captions): replacements
# that stay true of the image. An adjective is replaced only by one on the other side of its
# dimension ("large" -> "small", never "long"; "open" -> "closed", never "grassy"), never by a
# near colour ("brown" -> "tan"); a verb never by one that fits almost any scene ("holding" ->
# "using", "sitting at a table" -> "looking at a table"); a person's role never by a plain person
# noun or back ("batter" -> "man", "boy" -> "skateboarder").
ADJECTIVE_SIDES: tuple[tuple[frozenset[str], frozenset[str]], ...] = (
    # 2.3 (round 17's readers): size, length and height are three scales ("small desk" -> "long
    # desk", "tall plants" -> "small plants" may both hold)
    (frozenset({"small", "little", "tiny", "miniature"}), frozenset({"large", "big", "huge", "giant", "enormous", "massive"})),
    (frozenset({"short"}), frozenset({"long"})),
    (frozenset({"short"}), frozenset({"tall"})),
    (frozenset({"young", "new", "modern"}), frozenset({"old", "elderly", "antique", "vintage", "ancient"})),
)
STATE_OPPOSITES: dict[str, frozenset[str]] = {w: frozenset(o) for w, o in {
    "open": ("closed",), "closed": ("open",), "empty": ("full", "crowded", "busy"), "full": ("empty",),
    "crowded": ("empty", "quiet"), "busy": ("empty", "quiet"), "quiet": ("busy", "crowded"),
    "wet": ("dry",), "dry": ("wet",), "clean": ("dirty", "messy"), "dirty": ("clean", "neat", "tidy"),
    "messy": ("clean", "neat", "tidy"), "neat": ("messy", "dirty"), "tidy": ("messy", "dirty"),
    "lit": ("dark",), "dark": ("bright", "lit"), "bright": ("dark",), "hot": ("cold", "frozen"),
    "cold": ("hot",), "frozen": ("hot",), "raw": ("cooked",), "cooked": ("raw",), "calm": ("wavy",),
    "wavy": ("calm",), "sunny": ("cloudy", "rainy", "foggy"), "cloudy": ("sunny",), "rainy": ("sunny",),
    "foggy": ("sunny",),
    # 2.3: no terrain words ("rocky" -> "snowy", "sandy" -> "rocky": a mountain or beach may be both)
}.items()}
NEAR_COLOURS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("brown", "tan", "beige"), ("gray", "grey", "silver"), ("gold", "golden", "yellow"),
    ("blue", "navy", "cyan", "teal", "turquoise"), ("purple", "violet", "magenta"), ("red", "maroon"),
    ("pink", "magenta"),
    # 2.3 (round 17's readers): neighbours a reader may call one another ("pink" flamingos /
    # "orange", a "brown" horse / "red" (chestnut), an "orange" disc / "yellow")
    ("pink", "red", "orange", "purple"), ("brown", "red", "orange"), ("orange", "yellow"),
))
# 2.3: materials a reader may take for one another ("stone" / "brick" walls, "metal" / "steel").
NEAR_MATERIALS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("stone", "brick", "concrete", "marble", "rock"), ("wooden", "wood", "bamboo", "wicker", "straw"),
    ("metal", "metallic", "steel", "iron"), ("cotton", "wool", "woolen", "denim"), ("ceramic", "porcelain"),
    ("paper", "cardboard"),
))
# 2.10 (round 53's readers): rooms that exclude each other ("A bathroom with a toilet" -> "A kitchen
# with a toilet"); not "room", "office" or "living room" (a bedroom may be both).
ROOMS = frozenset({"kitchen", "bathroom", "bedroom"})
# 2.10: words that put a caption in a bathroom or a kitchen (which room's fixtures would be false there)
BATHROOM_WORDS = frozenset({"bathroom", "bathrooms", "restroom", "restrooms", "toilet", "toilets", "bathtub",
                            "bathtubs", "tub", "tubs", "shower", "showers", "urinal", "urinals", "bath", "lavatory",
                            "vanity", "washroom"})
KITCHEN_WORDS = frozenset({"kitchen", "kitchens", "stove", "stoves", "oven", "ovens", "refrigerator", "refrigerators",
                           "fridge", "fridges", "dishwasher", "microwave", "microwaves", "cooking", "cook", "cooks"})
# 2.10: animals that stand in for a person only where the caption names no animal ("Two people out
# in the snow" -> "Two horses"); not pets or birds, which a street, park or beach may hold unnamed.
PERSON_STAND_IN_EXCLUDED = frozenset({"dog", "puppy", "cat", "kitten", "bird", "duck", "goose", "pigeon", "seagull",
                                      "chicken", "swan", "owl", "parrot", "eagle", "bee", "butterfly", "fish",
                                      "crab", "frog", "squirrel"})
ANIMAL_WORDS = frozenset({"animal", "animals", "pet", "pets", "livestock", "cattle", "herd", "flock", "wildlife"})
# 2.3: children's age words are no attribute to oppose ("young boy" -> "old boy").
CHILD_PERSONS = frozenset({"child", "children", "kid", "kids", "boy", "boys", "girl", "girls", "baby", "babies",
                           "toddler", "toddlers", "teenager", "teenagers", "infant"})
YOUNG_ANIMALS = frozenset({"pup", "pups", "puppy", "puppies", "kitten", "kittens", "calf", "calves", "foal", "foals",
                           "lamb", "lambs", "cub", "cubs", "chick", "chicks", "duckling", "ducklings"})  # 2.11
PERSON_WORDS_FOR_AGE = frozenset({"young", "old", "elderly"})  # "a modern child", "an antique man" read oddly
THING_WORDS_FOR_AGE = frozenset({"new", "modern", "old", "antique", "vintage", "ancient"})
REPLACED_ADJECTIVE_KINDS = frozenset({"colour", "material", "size", "shape", "state", "age", "pattern", "count"})
GENERIC_VERBS = frozenset({"use", "hold", "play", "look", "pose", "wait",
                           "photograph",  # 2.2 (round 14): "parked" -> "photographed": true of any photo
                           "prepare"})  # round 15: "cutting a cake" -> "preparing": true of most food scenes
# 2.4 (round 27's readers): acts one of which often includes or looks like the other.
OVERLAPPING_ACTS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("hold", "touch", "grab", "carry", "use", "lift", "pet", "hug"),
    ("hold", "pull", "drag", "tug", "examine", "inspect"),  # round 62: holding a kite pulls it; one examines what one holds
    # round 52: an engine "carrying" carts may push them, a child "examining" a magnet touches it,
    # a player "hitting" a ball pushes it
    ("carry", "push", "pull", "haul", "tow", "drag"), ("examine", "inspect", "push", "touch"),
    ("hit", "push", "strike", "tap", "bump"),
    ("wipe", "brush", "rub", "clean", "wash", "dry", "scratch"),
    ("step", "jump", "walk", "hop", "leap", "climb"),
    ("demonstrate", "show", "display", "carry", "hold"),
    # round 28: "placing" / "carrying", "swings" / "grabs" a bat, "playing" / "swinging" (tennis),
    # "throwing" / "serving", a truck "carrying" / "driving" a trailer, "using" / "feeding with" a spoon
    ("place", "put", "set", "carry", "hold", "lay"), ("swing", "grab", "hold", "hit"), ("play", "swing"),
    ("throw", "serve", "toss", "pitch"), ("carry", "drive", "pull", "tow", "haul"), ("use", "feed", "eat"),
    # 2.5 (round 34): "eating" / "licking" food, "serving" / "swinging" a ball
    ("eat", "lick", "bite", "chew", "taste", "nibble", "munch"), ("serve", "swing", "hit"),
    # 2.5 (round 35): "eating" / "cutting" or "sniffing" food, "paddling" / "riding" a kayak,
    # "petting" / "feeding" cows, "catching" / "covering" a ball, "performs" / "rides" a trick
    ("eat", "cut", "sniff", "smell"), ("paddle", "ride", "row", "steer"), ("pet", "feed"), ("catch", "cover"),
    ("perform", "ride", "do"), ("go", "jump"),
    # 2.5 (round 36): a board sport and the jumps done in it, what flies and floats, gaits, "eats" /
    # "carries" a hotdog, "comes" / "jumps" to join
    ("skateboard", "jump"), ("snowboard", "jump"), ("surf", "jump"), ("ski", "jump"), ("kiteboard", "jump"),
    ("fly", "float", "glide", "soar", "sail", "hover", "parasail", "surf"), ("trot", "run", "gallop", "canter"),
    ("eat", "carry", "hold"), ("come", "jump"),
    # 2.9 (round 46): skiing / snowboarding (loosely said of either), a dog "jumping" / "running" to catch
    ("ski", "snowboard"), ("jump", "run"),
    # round 47: "preparing" / "serving" food, "wearing" / "carrying" ski equipment, "breaking into" /
    # "climbing into", a dog "holding" / "catching" a frisbee in its mouth
    ("prepare", "serve", "cook", "make", "cut", "chop", "touch", "handle", "mix"), ("wear", "carry"), ("break", "climb"),
    ("hold", "catch"),
    # round 49: "flipping" / "riding" a skateboard in a trick, "licking" / "touching", "loading" /
    # "carrying" luggage, "surfing" / "cutting" a wave (surfers' word for a turn)
    ("flip", "ride", "kick", "push", "spin"), ("lick", "touch", "kiss", "sniff", "smell", "nuzzle"),
    ("load", "carry", "lift", "put", "place", "stack"), ("surf", "cut", "carve"),
    # 2.11 (round 79): "selling" / "serving" at a stand, "buying" / "carrying" food, "watches" /
    # "examines", "skating" / "jumping" in a skate park, "performing" / "hitting" a jump
    ("sell", "serve", "offer"), ("buy", "carry"), ("watch", "examine", "inspect", "study", "observe"),
    ("skate", "jump", "grind"), ("perform", "hit"),
))
# Round 49: a snowy scene makes skiing or snowboarding possible for anyone in it ("four people
# standing in the snow" -> "skiing", "going down a steep snow hill" -> "skiing").
SNOW_SCENE_WORDS = frozenset({"snow", "snowy", "slope", "slopes", "ski", "skiing"})
# 2.9 (round 46): in a caption of a ball game, its acts overlap: "plays" / "throws" a frisbee
# (playing it is throwing, catching, hitting), "hitting" / "throwing" (the pitcher is there), "hits"
# / "drives" or "slices" a ball (shots). Only where a ball game is named ("playing a guitar" may
# still become "throwing a guitar").
BALL_GAME_WORDS = frozenset({"ball", "balls", "baseball", "tennis", "frisbee", "frisbees", "soccer", "football",
                             "basketball", "volleyball", "softball", "cricket", "golf", "pitch", "pitcher", "batter",
                             "racket", "racquet", "bat", "game", "match", "court", "field", "serve"})
BALL_GAME_ACTS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("play", "throw", "catch", "toss", "kick", "hit", "serve", "pitch"),
    ("hit", "throw", "pitch", "catch", "toss", "drive", "slice", "strike", "smash", "return", "swing"),
    # round 61: a player swinging at or kicking a ball runs to it
    ("swing", "kick", "hit", "run", "chase", "dribble"),
))
# 2.9 (round 47): "going" (or "moving", "heading") is any way of moving: "going up a hill" ->
# "climbing up" may be true. One way: "driving" may still become "walking".
GENERIC_MOTION = frozenset({"go", "move", "travel", "head", "come", "proceed"})
MOTION_VERBS = frozenset({"go", "climb", "walk", "hike", "ride", "drive", "run", "travel", "move", "head", "come",
                          "proceed"})
# Round 52: going past something, for which any way of moving fast is the same ("traffic zooming by" ->
# "running by", "a train passing by" -> "brushing by").
PASSING_VERBS = frozenset({"pass", "zoom", "speed", "race", "rush", "whiz", "drive", "go", "move", "roll", "travel",
                           "cruise", "brush", "run", "fly", "head", "come", "sail", "glide", "whip"})
# Round 28: what a rider may also do to the horse or on the board ("riding horses" -> "touching").
RIDER_ACTS = frozenset({"swim", "touch", "pet", "feed", "lead", "paddle", "sit", "hold"})
# Round 28: the boards and skis a caption names, and the act done with each ("people on snow with
# skis" -> "skiing" may be true).
GEAR_ACTS = {"ski": "ski", "skis": "ski", "snowboard": "snowboard", "snowboards": "snowboard",
             "surfboard": "surf", "surfboards": "surf", "skateboard": "skateboard", "skateboards": "skateboard",
             "skates": "skate", "board": "surf", "boards": "surf", "skies": "ski",  # round 34: "on her skies"
             # 2.9 (round 46): "on skiis", and the one who does it ("skiers going down" -> "skiing")
             "skiis": "ski", "skier": "ski", "skiers": "ski", "snowboarder": "snowboard", "snowboarders": "snowboard",
             "boarder": "snowboard", "boarders": "snowboard", "surfer": "surf", "surfers": "surf",
             "skateboarder": "skateboard", "skateboarders": "skateboard"}
SNOW_SPORTS = frozenset({"ski", "snowboard"})  # 2.9: one is loosely called the other
def verb_stems(word: str) -> set[str]:
    """The word and the bare forms it may come from ("wiping" -> "wipe", "stepping" -> "step",
    "wipes" -> "wipe"), for verbs the vocabulary does not inflect."""
    stems = {word}
    for ending in ("ing", "ed", "es", "s"):
        if word.endswith(ending) and len(word) > len(ending) + 2:
            stem = word[:-len(ending)]
            stems |= {stem, stem + "e"}
            if len(stem) > 2 and stem[-1] == stem[-2]:
                stems.add(stem[:-1])  # "stepping" -> "step"
    return stems


# A person's posture and what one does in any posture go together ("sitting on a bench" is no
# negative of "talking on a bench"), and so do two such activities ("looking" / "smiling at"): a
# verb of either group is replaced by neither group (2.2, rounds 12-13).
PERSON_POSTURES = frozenset({"sit", "stand", "lie", "lay", "kneel", "crouch", "lean", "rest", "relax",
                             "float"})  # round 15: surfers "talking in the ocean" float; ducks "floating" sit
COMBINABLE_ACTIVITIES = frozenset({"talk", "smile", "laugh", "look", "watch", "wait", "pose", "point", "rest",
                                   "relax", "read", "sleep",
                                   # round 15: one "hangs (out)" anywhere, a plane "flying" seems to hang,
                                   # an animal standing or walking grazes
                                   "hang", "graze"})
PERSON_ROLES = frozenset({"player", "skier", "surfer", "skateboarder", "snowboarder", "chef", "cook", "waiter",
                          "officer", "soldier", "worker", "student", "teacher", "doctor", "nurse", "farmer", "tourist",
                          "pitcher", "batter", "catcher", "rider", "driver"})
# 2.2 (round 12): a person noun keeps its gender when a pronoun refers to it ("A man surfing on his
# board" -> not "A woman ... his board").
MALE_PERSONS = frozenset({"man", "boy", "guy", "gentleman"})
FEMALE_PERSONS = frozenset({"woman", "girl", "lady"})
# 2.3 (round 17's readers): objects of one scene or one kind that a reader may still see in the image
# ("toilet" -> "sink" in a bathroom, "tray" -> "plate", "counter" -> "table", "laptop" -> "keyboard",
# "car" -> "truck", "sign" -> "pole", "street" -> "city"): a noun is replaced by none of its groups.
SCENE_GROUPS: tuple[frozenset[str], ...] = tuple(frozenset(g) for g in (
    ("toilet", "sink", "bathtub", "tub", "shower", "mirror", "towel", "bathroom"),
    ("stove", "oven", "sink", "refrigerator", "fridge", "microwave", "counter", "cabinet", "dishwasher", "toaster",
     "kitchen"),
    ("plate", "tray", "platter", "dish", "bowl", "pan", "pot", "basket"),
    ("cup", "mug", "glass", "bottle", "jar", "vase"), ("fork", "knife", "spoon", "napkin", "glass", "plate"),
    ("counter", "table", "desk", "shelf", "bench", "stool", "chair"), ("couch", "sofa", "armchair", "chair", "bench"),
    ("laptop", "computer", "keyboard", "mouse", "monitor", "screen", "tv", "television", "tablet", "phone",
     "cellphone", "remote", "controller"), ("phone", "cellphone", "tablet", "camera"),  # round 20: a phone is a camera
    ("laptop", "computer", "camera", "webcam"), ("hat", "cap", "helmet", "beanie", "visor"),  # round 32: a laptop's webcam
    ("motorcycle", "scooter", "moped", "motorbike", "bike"), ("bush", "shrub", "grass", "brush", "weed"),  # round 32
    ("vase", "bowl", "pot", "planter"),  # round 32: "a glass plant vase" -> "a bowl"
    ("car", "truck", "van", "taxi", "bus", "ambulance", "jeep", "suv"), ("train", "tram", "trolley", "car", "wagon"),
    ("boat", "ship", "sailboat", "canoe", "kayak"), ("airplane", "plane", "jet", "aircraft"),
    ("sign", "pole", "light", "hydrant", "meter", "street", "sidewalk", "road"),
    ("street", "road", "city", "sidewalk", "highway", "alley", "building", "station"),
    ("fence", "wall", "rope", "gate", "door", "window", "curtain"), ("fence", "pole", "post", "wire"),
    ("field", "pasture", "hill", "mountain", "slope", "grass", "park", "yard", "garden", "farm"),
    ("beach", "sea", "ocean", "water", "lake", "river", "sand"), ("tree", "bush", "shrub", "plant", "flower", "forest"),
    ("coat", "jacket", "suit", "shirt", "sweater", "hoodie", "vest", "uniform", "dress", "hat", "cap", "tie"),
    ("luggage", "suitcase", "bag", "backpack", "purse", "handbag"),
    ("soup", "salad", "bread", "cheese", "meat", "sandwich", "vegetable", "fruit"),
))
NEGATION_WORDS = frozenset({"no", "without", "not", "never", "nothing", "none"})
# 2.5 (round 32's readers): words of a family: any person noun may name one of its members ("a group
# of moms and kids" -> "moms and women", "families with lots of children" -> "lots of men")
FAMILY_WORDS = frozenset({"family", "families", "mom", "moms", "mother", "mothers", "dad", "dads", "father",
                          "fathers", "parent", "parents", "mommy", "daddy", "grandmother", "grandfather"})
# 2.5 (round 32's readers): clothes nearly everyone wears: put for a helmet or a scarf, they are
# likely worn too ("wearing a helmet and goggles" -> "wearing a shirt and goggles")
WORN_BY_ANYONE = frozenset({"shirt", "shirts", "pants", "jeans", "shoe", "shoes", "clothes", "clothing", "top", "trousers",
                            "sock", "socks"})
# 2.4 (round 20's readers): nouns that name light as well as a thing ("the only light coming from
# a door"), and rooms and tables where furniture, dishes and appliances are found together: in
# them, one piece replaced by another of its kind may well be there too ("a living area with
# beds, a desk" -> "a couch"; "knives on a dining table" -> "cups").
AMBIGUOUS_NOUNS = frozenset({"light", "lights",
                             "speaker", "speakers"})  # 2.10 (round 54): a performer is one, and has one
# Nouns that name a sort of any person of a kind ("skateboarders" -> "players" may be true).
GENERIC_PERSONS = frozenset({"player", "rider", "worker", "person"})
INDOOR_KINDS = frozenset({"furniture", "tableware", "appliance", "electronics"})
INDOOR_SCENE_WORDS = frozenset({"kitchen", "kitchens", "bathroom", "bedroom", "room", "rooms", "office", "area",
                                "restaurant", "cafe", "diner", "house", "home", "apartment", "hotel", "living",
                                "dining", "table", "tables", "counter", "countertop", "desk", "indoors", "inside"})
# A dish and what it is made of ("a pizza" -> "meat": pizzas carry meat).
DISHES = frozenset({"pizza", "sandwich", "burger", "hamburger", "salad", "soup", "taco", "pasta", "bagel", "sushi",
                    "pie", "plate", "bowl", "tray", "platter"})
INGREDIENTS = frozenset({"meat", "cheese", "tomato", "pepper", "onion", "egg", "steak", "bread", "vegetable",
                         "broccoli", "carrot", "potato", "rice", "fruit", "lemon", "lime", "pasta"})
# Round 18's readers: nouns whose plural is the singular ("two commercial aircraft" -> "train",
# "a herd of sheep" -> "cat"): the replacement cannot tell which it should be.
INVARIANT_PLURALS = frozenset({"sheep", "deer", "aircraft", "fish", "bison", "moose", "cattle", "swine", "elk",
                               "buffalo", "salmon", "trout", "series", "species", "offspring"})
SCREEN_WORDS = frozenset({"computer", "computers", "laptop", "laptops", "lap", "monitor", "screen", "internet", "web", "desk",
                          "phone", "cellphone", "smartphone", "tablet"})  # round 34: "talking on a cellphone" -> "surfing"
# 2.3: person nouns of no gender, which overlap in age with the gendered ones ("little girl" -> "toddler").
UNGENDERED_PERSONS = frozenset({"child", "kid", "person", "baby", "toddler", "teenager"})
MALE_PRONOUNS = frozenset({"he", "his", "him", "himself"})
FEMALE_PRONOUNS = frozenset({"she", "her", "hers", "herself"})
# Adjective + word pairs that are one name, not an attribute and a thing: "polar bear", "sippy cup".
FIXED_PAIRS = frozenset({
    ("open", "air"), ("wrought", "iron"), ("sippy", "cup"), ("open", "mouthed"), ("low", "flying"),
    ("polar", "bear"), ("pine", "apple"), ("pine", "apples"), ("mobile", "phone"), ("cell", "phone"), ("deep", "dish"), ("hot", "dog"), ("hot", "dogs"),
    ("flat", "screen"), ("teddy", "bear"), ("ski", "poles"), ("ski", "pole"), ("grizzly", "bear"),
    ("french", "fries"), ("french", "toast"), ("double", "decker"), ("stuffed", "animal"), ("fire", "hydrant"),
    ("high", "heels"), ("fast", "food"), ("living", "room"), ("dining", "room"), ("dining", "table"),
    # 2.3 (round 17's readers): traffic lights, breeds, railway cars, the navy
    ("red", "light"), ("green", "light"), ("yellow", "light"), ("golden", "retriever"), ("flat", "car"),
    ("flat", "cars"), ("navy", "vessel"), ("navy", "ship"), ("navy", "ships"), ("small", "appliances"),
    ("large", "appliances"), ("sliding", "door"), ("sliding", "doors"),
    ("green", "space"), ("green", "spaces"), ("rubber", "band"), ("rubber", "bands"),  # round 18
    ("rocking", "chair"), ("rocking", "chairs"), ("prop", "plane"), ("prop", "planes"),  # round 86 (2.12)
    # 2.13 (rounds 9-10's rejected swaps of a colour and a material): names and foods
    ("cobbled", "stone"), ("cobble", "stone"), ("bamboo", "shoot"), ("bamboo", "shoots"),
    ("stainless", "steel"), ("black", "beans"), ("black", "bean"), ("green", "beans"), ("green", "bean"),
    ("floral", "arrangement"), ("floral", "arrangements"), ("yellow", "cake"), ("red", "meat"),  # round 88
    ("wet", "suit"), ("wet", "suits"), ("red", "lights"), ("green", "lights"), ("yellow", "lights"),  # round 80
    ("cast", "iron"),  # a review of 2.13
})
# 2.13 (round 10): pairs that are a name before another noun ("a red cross kit"); "a red cross" alone is a shape
NAMES_BEFORE_NOUN = frozenset({("red", "cross"), ("black", "face")})  # round 88: "black face sheep", a breed
# Nouns that head no object a relation swap could move ("a bit", "having fun").
NON_OBJECTS = frozenset({"bit", "fun", "lot", "lots", "plenty", "kind", "sort", "way", "time", "focus",
                         # times of day and "at the forefront": no object to move ("near sunset at a beach")
                         "forefront", "sunset", "sunrise", "dusk", "dawn", "nighttime", "daytime", "twilight",
                         "day",  # round 16: "on moving day"
                         "right", "rights",  # round 34: "expressing their right to protest" -> "carrying"
                         "horseback"})  # round 36: "riding horseback" -> "carrying horseback"
# Posture verbs: for a thing (not a person or an animal) "sitting", "standing", "lying" and
# "resting" on a table all say the same.
# 2.2 (round 14): the only activities a posture verb may replace: one who walks, runs or jumps is
# not standing still, sitting or lying; a surfer, a batter or a child at play may well be standing.
LOCOMOTION_VERBS = frozenset({"walk", "run", "jog", "dive", "fly", "race", "fall"})
# Round 15: a skater "jumping" stands on the board, a duck "swimming" sits on the lake. "Walking"
# goes along with what the hands do ("texting", "gathering around"): it replaces only postures and
# other ways of moving; a dog "playing" may be running or jumping.
WALKING_VERBS = frozenset({"walk"})
# Round 15 (second reader): in a group, crowd or herd "standing", some may be walking.
COLLECTIVE_NOUNS = frozenset({"group", "groups", "crowd", "crowds", "herd", "herds", "flock", "flocks", "gathering",
                              "team", "teams", "bunch", "family", "families", "pack", "lots", "crew", "class",
                              # round 16: "people standing around a table", "other people standing"
                              "people", "others", "persons", "spectators", "fans", "onlookers", "pedestrians"})

# A relation after these is part of a fixed phrase: "a bite out of" says "a bite into".
BITE_NOUNS = frozenset({"bite", "bites", "sip", "sips"})
# "next to keyboard", "up to cheek": a bare noun after these the tagger reads as a verb after "to".
BEFORE_TO_NOUN = frozenset({"up", "next", "close", "closer", "due", "similar"})
BE_FORMS = frozenset({"is", "are", "was", "were", "be", "been", "being", "'s", "'re"})
POSTURE_VERBS = frozenset({"sit", "stand", "lie", "lay", "rest", "set", "place", "perch", "hang"})
# Verbs whose object is the text they show ("a sign that reads Sparta"): that object never moves.
SAYING_VERBS = frozenset({"reads", "read", "reading", "says", "say", "saying", "spelling", "spells", "labeled",
                          "labelled", "titled", "named", "called", "marked", "stating", "states"})
# Objects of fixed expressions ("on display", "in the distance", "on a sunny day"): the relation
# before them is not a place and has no opposite there.
IDIOM_OBJECTS = frozenset({
    "display", "distance", "day", "night", "background", "foreground", "phone", "air", "sale", "time",
    "stance", "fire", "duty", "purpose", "average", "fashion", "style", "order", "line", "place", "view",
    "mobile", "cellphone",
    "frame", "sight", "reach", "control",  # round 15: "something out of frame" -> "into frame"
    "foot", "board",  # round 17: "on foot", "on board an airplane"
    "horseback",  # round 49: "on horseback" -> "under horseback"
})
# 2.5: objects after "on" (or "over") that make an idiom with it, not a place: "filmed on camera"
# (round 34), "over the radio" (round 35), "on their laptops" (using them), "corn on the cob", "on a
# leash", "a smile on his face" (round 36); "next to a laptop" stays a place
ON_IDIOM_OBJECTS = frozenset({"camera", "radio", "laptop", "laptops", "computer", "computers", "tablet", "ipad",
                              "phones", "cellphones", "cob", "leash", "leashes", "face"})
# Labels of the words the parse puts before a noun inside its phrase.
_PREMODIFIER_DEPS = frozenset({"det", "amod", "compound", "nummod", "poss", "case", "npadvmod", "advmod",
                               "punct", "cc", "conj", "quantmod", "nmod", "predet", "neg"})
_COLOUR_WORDS = frozenset({
    "red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white", "gray", "grey",
    "silver", "gold", "golden", "beige", "tan", "cyan", "teal", "turquoise", "maroon", "navy", "violet",
    "magenta", "dish"})
_SUBJECT_DEPS = frozenset({"nsubj", "nsubjpass", "expl", "csubj"})
_WORD = re.compile(r"[^\W\d_]+(?:['-][^\W\d_]+)*", re.UNICODE)


# ------------------------------------------------------------------------------------ fixed words
def quoted_tokens(tokens: list[Token]) -> set[int]:
    """Indices of the quote marks and of every token between a pair of them."""
    marks = [i for i, t in enumerate(tokens) if t.text in QUOTES or t.tag in ("``", "''")]
    fixed: set[int] = set()
    for a, b in zip(marks[0::2], marks[1::2]):
        fixed.update(range(a, b + 1))
    if len(marks) % 2:  # an unclosed quote: everything after it
        fixed.update(range(marks[-1], len(tokens)))
    return fixed


def name_tokens(tokens: list[Token]) -> set[int]:
    """Proper names: capitalised words other than the first one, in a caption that is not written
    in capitals throughout ("A sign for Reel Big Fish"; nothing in "TWO DOGS ON A BED" or a caption
    that capitalises most words)."""
    words = [i for i, t in enumerate(tokens) if t.is_word]
    if len(words) < 2:
        return set()
    capitalised = [i for i in words[1:] if tokens[i].text[:1].isupper()]
    if 2 * len(capitalised) > len(words) - 1:
        return set()  # Title Case or ALL CAPS: capitals say nothing
    return {i for i in capitalised if tokens[i].text != "I"} | {
        i for i in words[1:] if tokens[i].tag in PROPER_NOUN_TAGS and tokens[i].text[:1].isupper()}


def hyphen_tokens(tokens: list[Token]) -> set[int]:
    """Words joined by a hyphen ("double-decker", "wet-suited"): one word, never split."""
    fixed: set[int] = set()
    for i, t in enumerate(tokens):
        if t.tag == "HYPH" or t.text == "-" and not t.ws and i > 0 and not tokens[i - 1].ws:
            fixed.update(k for k in (i - 1, i, i + 1) if 0 <= k < len(tokens))
        elif "-" in t.text and t.is_word:
            fixed.add(i)
    return fixed


# Vague quantities: replacing one by another ("several" -> "many") says about the same.
VAGUE_COUNTS = frozenset({"several", "many", "multiple", "numerous", "few", "some", "lots"})


# ------------------------------------------------------------------------------------ candidates
def children_index(tokens: list[Token]) -> list[list[int]]:
    """For each token, the indices of its dependents (in order)."""
    kids: list[list[int]] = [[] for _ in tokens]
    for j, t in enumerate(tokens):
        if 0 <= t.head < len(tokens) and t.head != j:
            kids[t.head].append(j)
    return kids


# 2.13: adverbs of degree that stay in place when adj_swap trades two attributes of one kind ("a very
# large kitchen ... a little dog" -> "a very little kitchen ... a large dog")
DEGREE_ADVERBS = frozenset({"very", "really", "extremely", "quite", "fairly", "rather", "super", "incredibly"})


def is_attribute(tokens: list[Token], lowers: list[str], i: int, category: str | None,
                 frame_nouns: frozenset[str], children: list[list[int]] | None = None,
                 degree: bool = False) -> bool:
    """True when word ``i`` describes a thing, as the parse has it: an adjective modifying a noun
    ("a red car"), a predicate adjective ("the car is red") or a coordinated one ("red and white");
    a known attribute word used as a noun modifier ("a metal bench"). Not: a word with its own
    complement ("full of", "about to"), a modifier of an adjective ("neon green"), a description
    of a frame noun ("a small group"), non-attributes ("about", "next", "many"). With ``degree``
    (2.13, adj_swap) an adverb of :data:`DEGREE_ADVERBS` before the word does not bind it ("very")."""
    t = tokens[i]
    if lowers[i] in NOT_ATTRIBUTES:
        return False
    if (i + 1 < len(lowers) and (lowers[i], lowers[i + 1]) in FIXED_PAIRS) or (i > 0 and tokens[i - 1].tag == "TO"):
        return False  # "polar bear", "sippy cup"; "to pet" is a verb
    if i > 0 and (lowers[i - 1], lowers[i]) in FIXED_PAIRS:
        return False  # 2.13 (round 88): the second word of a name ("stainless steel", "wrought iron")
    if i + 2 < len(lowers) and (lowers[i], lowers[i + 1]) in NAMES_BEFORE_NOUN and tokens[i + 2].tag in NOUN_TAGS:
        return False  # "a red cross kit"
    kids = (children or children_index(tokens))[i]
    if any(tokens[k].dep in ("prep", "xcomp", "ccomp", "advcl") or
           (k < i and tokens[k].dep in ("advmod", "amod", "npadvmod", "compound")
            and not (degree and tokens[k].dep == "advmod" and lowers[k] in DEGREE_ADVERBS)) for k in kids):
        return False  # "full of", "about to"; "light colored", "very cute": the pair is one attribute
    if category is None and (lowers[i].endswith("ed") or t.tag == "VBN"):
        return False  # "the meal is prepared": a state of an action, no attribute to trade
    nxt = lowers[i + 1] if i + 1 < len(lowers) else ""
    if nxt in _ATTRIBUTE_SECOND_HALVES or (lowers[i] in SHADE_WORDS and (
            nxt in _COLOUR_WORDS or (i > 0 and lowers[i - 1] in SHADE_WORDS))):
        return False  # "old fashioned", "multi colored", "dark purple", "deep dish"
    if i > 0 and lowers[i - 1] in SHADE_WORDS and lowers[i] in _COLOUR_WORDS:
        return False  # the colour of "dark purple" is one attribute with its shade
    head = tokens[t.head] if 0 <= t.head < len(tokens) else t
    dep = t.dep
    if dep == "conj":  # "red and white": as good as what it is coordinated with
        first = t.head
        while tokens[first].dep == "conj" and tokens[first].head != first:
            first = tokens[first].head
        if first == i or tokens[first].tag not in ADJECTIVE_TAGS:
            return False
        dep, head = tokens[first].dep, tokens[tokens[first].head]
    if dep == "amod" or (category is not None and dep in ("compound", "nmod")):
        return head.tag in NOUN_TAGS and head.text.lower() not in frame_nouns
    if dep in ("acomp", "attr", "oprd"):
        return t.tag in ADJECTIVE_TAGS
    return False


def is_main_verb(tokens: list[Token], lowers: list[str], i: int, children: list[list[int]] | None = None) -> bool:
    """A verb the parse agrees is one, whose replacement keeps the sentence: not a phrasal verb
    ("take off", "kicking up": the particle belongs to it), not a noun read as a finite verb
    ("Interior bathroom shot of a sink"), not a noun modifier ("a snow covered slope" keeps
    "covered")."""
    t = tokens[i]
    if t.tag not in VERB_TAGS:
        return False
    if t.dep in ("pobj", "dobj", "nsubj", "nsubjpass", "compound", "appos", "attr", "poss", "advmod"):
        return False  # a noun the tagger took for a verb ("a run down building", "kitchen utensils"; 2.2: "fast asleep")
    if t.dep == "conj" and 0 <= t.head < len(tokens) and tokens[t.head].tag in NOUN_TAGS:
        return False  # 2.2: "a bench and building": one of a list of nouns
    kids = (children or children_index(tokens))[i]
    if t.tag == "VBG" and t.dep == "ROOT" and i > 0 and tokens[i - 1].tag in NOUN_TAGS \
            and not any(tokens[k].dep in _SUBJECT_DEPS for k in kids):
        return False  # 2.2: "Walnut icing on a cake": a noun
    if t.tag == "VBG" and t.dep == "pcomp" and i + 1 < len(tokens) and tokens[i + 1].tag in NOUN_TAGS | {"JJ"} \
            and not any(tokens[k].dep == "dobj" for k in kids):
        return False  # 2.2: "on top of cutting board", "a photo of smiling young man": a modifier
    if any(tokens[k].dep in ("prt", "ccomp", "xcomp", "acomp", "oprd") for k in kids):
        return False  # "take off"; "helping a child stand"; "walls painted beige" (the complement depends on it)
    if t.tag == "VBG" and any(tokens[k].tag == "VB" and lowers[k - 1] != "to" for k in range(i + 2, min(i + 6, len(tokens)))):
        return False  # "helping a child stand", "watching a dog catch": the bare verb depends on it
    if t.tag in ("VBD", "VBZ", "VBP") and i + 1 < len(tokens) and lowers[i + 1] == "of":
        return False
    if i + 1 < len(tokens) and (tokens[i + 1].text in QUOTES or tokens[i + 1].tag == "``"):
        return False  # saying "...": the quote is what it says
    if t.dep in ("amod", "compound", "nmod") and tokens[t.head].tag in NOUN_TAGS:
        return False
    if t.tag in ("VBD", "VBZ", "VBP") and t.dep == "ROOT" and not any(tokens[k].dep in _SUBJECT_DEPS for k in kids):
        return False  # a finite verb with no subject: usually a noun the tagger missed
    if any(tokens[k].dep == "dative" for k in kids):
        return False  # "showing a panda its bottle": few verbs take two objects
    if t.tag in ("VB", "VBN", "VBD") and t.dep in ("ccomp", "xcomp") and not (i > 0 and lowers[i - 1] == "to") \
            and 0 <= t.head < i and lowers[t.head] not in ("to",) and tokens[t.head].tag in VERB_TAGS:
        return False  # "helping a child put on skis": the bare verb depends on "helping"
    if t.tag == "VBG" and t.dep == "pcomp" and i > 0 and lowers[i - 1] == "with":
        return False  # "a patty with frosting on it": a noun
    if t.tag in ("VB", "VBP", "VBZ") and not any(tok.is_word for tok in tokens[:i]):
        return False  # "Meat with vegetables displayed ...": a caption starts with a noun, not a command
    return True


def subject_of(tokens: list[Token], i: int, children: list[list[int]] | None = None) -> int | None:
    """The noun verb ``i`` says something about: its subject, or the noun it modifies ("a cake
    sitting on ...")."""
    t = tokens[i]
    if t.dep in ("acl", "relcl") and 0 <= t.head < len(tokens):
        return t.head
    for k in (children or children_index(tokens))[i]:
        if tokens[k].dep in ("nsubj", "nsubjpass"):
            return k
    if t.dep == "conj" and 0 <= t.head < len(tokens) and t.head != i:
        return subject_of(tokens, t.head, children)
    return None


def describes_person(tokens: list[Token], lowers: list[str], i: int, is_person) -> bool:
    """True when word ``i`` modifies a person noun ("a white man"): a colour there reads as a
    person's skin colour, so colours are never put on, or changed on, person nouns."""
    head = tokens[i].head
    while 0 <= head < len(tokens) and tokens[head].dep == "conj" and tokens[head].tag in ADJECTIVE_TAGS:
        head = tokens[head].head
    return 0 <= head < len(tokens) and head != i and is_person(lowers[head])


def is_replaceable_noun(tokens: list[Token], i: int) -> bool:
    """A head noun as the parse has it (not a compound's modifier: "train" in "train tracks")."""
    t = tokens[i]
    return not (t.dep == "compound" and t.head > i and tokens[t.head].tag in NOUN_TAGS)


def names_with_word_before(tokens: list[Token], lowers: list[str], i: int) -> bool:
    """2.4 (round 20's readers): noun ``i`` is half of a name with the word before it ("polar
    bear", "at a red light": :data:`FIXED_PAIRS`), follows a capitalised adjective inside the
    caption ("a white Arabian horse": a breed), or names light as well as a thing
    (:data:`AMBIGUOUS_NOUNS`)."""
    if lowers[i] in AMBIGUOUS_NOUNS:
        return True
    if i == 0:
        return False
    if (lowers[i - 1], lowers[i]) in FIXED_PAIRS or (lowers[i - 1], lowers[i].rstrip("s")) in FIXED_PAIRS:
        return True
    before = tokens[i - 1]
    if before.head == i and (before.tag in NOUN_TAGS or lowers[i - 1] in CLASSIFYING_ADJECTIVES):
        return True  # round 21: "light pole", "cellular phone", "semi truck", "longhorn bull"
    return i - 1 > 0 and before.text[:1].isupper() and not before.text.isupper() and before.tag in ("JJ", "NNP", "NNPS")


# Adjectives that make a kind, not describe one ("a cellular phone", "a semi truck"): with
# another noun the name breaks ("a cellular radio", "a semi plane").
CLASSIFYING_ADJECTIVES = frozenset({"cellular", "semi", "longhorn", "mobile", "wireless", "electric", "digital",
                                    "passenger", "commercial", "military", "public", "police", "fire", "jumbo",
                                    "stuffed", "toy", "pet", "baby", "mother", "mama", "papa", "adult", "male",
                                    "female", "pocket", "handheld", "remote", "double", "single", "tandem"})


def misread_noun(tokens: list[Token], lowers: list[str], i: int) -> bool:
    """2.4 (round 21's readers): a "noun" the parse shows is something else: the verb of a
    subject ("Two people ski down"), a noun with its own modifier after it ("a beer fest/JJS"), a
    noun right before a determiner ("walking a cross a dirt field": "across"), the first half of
    "noun + participle" ("a man made structure"), or a container of its own kind ("bags of
    luggage")."""
    t = tokens[i]
    if t.dep == "ROOT" and any(k != i and tokens[k].head == i and tokens[k].dep == "nsubj" for k in range(len(tokens))):
        return True
    if i + 1 < len(tokens):
        after = tokens[i + 1]
        if after.head == i and after.dep in ("amod", "compound"):
            return True
        if lowers[i + 1] in ("a", "an", "the"):
            return True
        if after.tag in ("VBN", "VBD") and i + 2 < len(tokens) and tokens[i + 2].tag in NOUN_TAGS:
            return True  # "a man made structure"
    return False


def heads_noun_compound(tokens: list[Token], lowers: list[str], i: int) -> bool:
    """2.3 (second reader of round 13): noun ``i`` is the head of a noun + noun name ("clock
    tower", "tennis player", "suit jacket", "bath room") or the noun of "body of water": replaced,
    the name breaks ("clock sidewalk", "tennis surfer", "body of kitchen")."""
    if i > 0 and tokens[i - 1].tag in NOUN_TAGS and tokens[i - 1].dep == "compound" and tokens[i - 1].head == i:
        return True
    return (i > 1 and lowers[i - 1] == "of" and lowers[i - 2] in ("body", "bodies")) or (
        lowers[i] in ("body", "bodies") and i + 1 < len(lowers) and lowers[i + 1] == "of")


# ------------------------------------------------------------------------------------ units
def premodifier_start(tokens: list[Token], head: int, blocked: list[bool]) -> int:
    """Start of the phrase the parse builds before noun ``head``: its leftmost pre-modifier's
    leftmost word, over unbroken modifiers only ("a snow covered slope" -> "a")."""
    start = head
    k = head - 1
    while k >= 0 and not blocked[k]:
        # k belongs to the phrase when its chain of heads reaches `head` without leaving [k, head].
        j, steps = k, 0
        while j != head and k <= j < head and steps < 8:
            if tokens[j].dep not in _PREMODIFIER_DEPS and not (tokens[j].tag in VERB_TAGS and tokens[j].dep == "amod"):
                break
            j, steps = tokens[j].head, steps + 1
        if j != head:
            break
        start = k
        k -= 1
    return start


def of_object(tokens: list[Token], lowers: list[str], head: int, children: list[list[int]] | None = None) -> int | None:
    """The object noun of an "of" right after noun ``head`` ("a body of water" -> water)."""
    k = head + 1
    if k >= len(tokens) or lowers[k] != "of" or tokens[k].head != head:
        return None
    objects = [j for j in (children or children_index(tokens))[k] if tokens[j].dep == "pobj" and j > k]
    return objects[0] if objects else None


def coordinated_with(tokens: list[Token], head: int, children: list[list[int]] | None = None) -> list[int]:
    """Nouns joined to noun ``head`` by "and"/"or" (its ``conj`` dependents), left to right."""
    return [j for j in (children or children_index(tokens))[head]
            if tokens[j].dep == "conj" and j > head and tokens[j].tag in NOUN_TAGS]


# ------------------------------------------------------------------------------------ pair filters
def symmetric_between(lowers: list[str], tokens: list[Token], start: int, end: int, first_head: int) -> bool:
    """True when the words between two phrases relate them symmetrically: "next to", "and",
    "beside", possibly with a copula or a posture verb ("that is standing next to"). Swapping two
    such phrases says the same. "surrounded by", "topped with", "X with Y" are not symmetric, and
    neither is any relation when the first phrase (head ``first_head``) is the object of something
    before it ("holding a bear near a crowd" -> "holding a crowd near a bear")."""
    if tokens[first_head].dep in ("dobj", "pobj", "dative", "obj"):
        return False
    words = [w for w, t in zip(lowers[start:end], tokens[start:end])
             if w not in _LINKING_WORDS and t.tag not in ("DT", "WDT", "WP", ",") and t.text.strip()]
    return " ".join(words) in SYMMETRIC_RELATIONS


# Generator 2.3 (second readers of rounds 12-13): "X with Y", "X at Y", "X passing by Y" swapped
# still describe the image ("A couch with pillows" / "Pillows with a couch"; "The sign is at a red
# light"), and so does a symmetric relation after a verb with no object ("A giraffe eats next to
# a zebra": both may eat).
LOOSELY_SYMMETRIC = SYMMETRIC_RELATIONS | {"with", "at", "passing by", "passing", "past", "together", "against",
                                           "up against"}
# Round 17's readers: acts two things do to each other ("a window facing the street", "a player
# talking to a child", "ties touching"): swapped, the same.
MUTUAL_VERBS = frozenset({"face", "facing", "faces", "touch", "touching", "touches", "talk", "talking", "talks",
                          "hug", "hugging", "hugs", "kiss", "kissing", "kisses", "meet", "meeting", "greet",
                          "greeting", "chat", "chatting", "lean", "leaning", "leans", "lay", "lays", "laying",
                          "pass", "passes", "passing", "passed",  # 2.4 (round 20): "a truck passing a man"
                          "cross", "crosses", "crossing", "intersect", "intersects", "intersecting",  # round 25
                          # 2.14 (round 89): "snuggling with a stuffed bear" -> "a stuffed bear snuggling with"
                          "snuggle", "snuggles", "snuggling", "snuggled", "cuddle", "cuddles", "cuddling",
                          "cuddled", "embrace", "embraces", "embracing"})
# 2.14 (a review): snuggling on or in a thing is resting on it ("A cat snuggling on a blanket" ->
# "A blanket snuggling on a cat" is false): mutual only with "with", "against" or an object
SNUGGLING_VERBS = frozenset({"snuggle", "snuggles", "snuggling", "snuggled", "cuddle", "cuddles", "cuddling",
                             "cuddled", "embrace", "embraces", "embracing"})
# 2.14 (round 89): the prepositions after which a mutual act in a coordination ("sitting and
# snuggling with a bear") takes the subject of the verb it is joined to
MUTUAL_PREPOSITIONS = frozenset({"with", "to", "against"})

# 2.12: resting on something is no mutual act ("A cat laying on a big bed" -> "A big bed laying on a
# cat", accepted by both of round 17's readers, whose one rejection was "lays against a pillow").
RESTING_VERBS = frozenset({"lean", "leaning", "leans", "lay", "lays", "laying"})


# Round 19's readers: "a bench tethered to a dog", "a sign attached to a pole": either way round.
ATTACHMENT_PARTICIPLES = frozenset({"attached", "tethered", "tied", "connected", "chained", "hooked", "leashed",
                                    "fastened", "strapped", "joined", "linked",
                                    "locked", "padlocked", "bolted", "clipped"})  # 2.14 (round 89): "locked to a pole"
# Words before a singular noun that count it ("a", "the", "his"); a singular noun after none of them
# is a mass ("tall grass", "some rice", "pieces of fruit", "in uniform").
COUNTING_DETERMINERS = frozenset({"a", "an", "the", "this", "that", "his", "her", "their", "its", "my", "your",
                                  "our", "one", "each", "every", "another", "any", "no", "which", "whose", "either",
                                  "neither", "'s"})


def symmetric_attachment(tokens: list[Token], lowers: list[str], x_start: int, x_end: int, y_head: int) -> bool:
    """2.3 (round 17's readers): phrase ``y`` hangs on phrase ``x`` (or on a verb of ``x`` with no
    object) by a symmetric preposition ("A hydrant on the ground by bushes", "A man sits on a shore
    with his surfboard"), or ``y`` is what ``x`` does a mutual act to ("a window facing the street",
    "a player talking to a child"). Phrase ``x`` spans ``[x_start, x_end)``."""
    in_x = range(x_start, x_end)
    t = tokens[y_head]
    if not 0 <= t.head < len(tokens):
        return False
    if t.dep == "pobj":
        p = t.head
        h = tokens[p].head
        phrase = lowers[p]
        if p > 0 and lowers[p] == "to" and lowers[p - 1] in ("next", "close"):
            phrase, h = f"{lowers[p - 1]} to", tokens[p - 1].head  # round 19: "next" carries the attachment
        if phrase == "to" and 0 <= h < len(tokens) and lowers[h] in ATTACHMENT_PARTICIPLES:
            return tokens[h].head in in_x or _subject_of_verb(tokens, h) in in_x
        has_object = any(tokens[k].dep in ("dobj", "obj") and tokens[k].head == h for k in range(len(tokens)))
        if (0 <= h < len(tokens) and lowers[h] in MUTUAL_VERBS and _mutual_subject(tokens, h, phrase) in in_x
                and (lowers[h] not in RESTING_VERBS or phrase in ("against", "up against") or has_object)
                and (lowers[h] not in SNUGGLING_VERBS or phrase in ("with", "against", "up against") or has_object)):
            return True  # "talking to a child"; "lays against a pillow", "laying his head on a sofa", not
            # "laying on a bed" (2.12)
        if phrase not in LOOSELY_SYMMETRIC or not 0 <= h < len(tokens):
            return False
        if h in in_x:
            return True
        if tokens[h].dep == "pobj" and 0 <= tokens[h].head < len(tokens):  # round 19: "A train standing on a
            g = tokens[tokens[h].head].head  # platform next to people": next to the place x is on
            if 0 <= g < len(tokens) and (g in in_x or (tokens[g].tag.startswith("VB") and _subject_of_verb(tokens, g) in in_x)):
                return True
        return tokens[h].tag.startswith("VB") and _subject_of_verb(tokens, h) in in_x and not any(
            tokens[k].dep in ("dobj", "obj") and tokens[k].head == h for k in range(len(tokens)))
    if t.dep in ("dobj", "obj") and lowers[t.head] in MUTUAL_VERBS:
        return _subject_of_verb(tokens, t.head, True) in in_x
    return False


def _mutual_subject(tokens: list[Token], v: int, preposition: str) -> int:
    """The subject of mutual verb ``v`` (:func:`_subject_of_verb` with ``through``); 2.14 (round
    89): for a verb joined to another with no subject of its own, before one of
    :data:`MUTUAL_PREPOSITIONS`, the other verb's ("a child sitting and snuggling with a bear").
    Not before another preposition: "people standing and talking on a sidewalk" is no mutual act
    with the sidewalk."""
    subject = _subject_of_verb(tokens, v, True)
    h = tokens[v].head
    if (subject < 0 and tokens[v].dep == "conj" and preposition in MUTUAL_PREPOSITIONS and 0 <= h < len(tokens)
            and h != v and tokens[h].tag.startswith("VB")):
        return _subject_of_verb(tokens, h, True)
    return subject


def _subject_of_verb(tokens: list[Token], v: int, through: bool = False, depth: int = 0) -> int:
    """The subject of verb ``v``: its nsubj, or the noun it modifies (acl: "a window facing"); with
    ``through`` (2.13, round 85, mutual acts only) also the subject of the verb it completes ("a
    woman going to touch a horse")."""
    for k, t in enumerate(tokens):
        if t.head == v and t.dep in ("nsubj", "nsubjpass") and k != v:
            return k
    if tokens[v].dep in ("acl", "relcl"):
        return tokens[v].head
    h = tokens[v].head
    if through and tokens[v].dep == "xcomp" and 0 <= h < len(tokens) and h != v and depth < 4 \
            and tokens[h].tag.startswith("VB"):
        return _subject_of_verb(tokens, h, True, depth + 1)
    return -1
_TIME_ADVERBS = frozenset({"now", "still", "also", "currently", "again", "here", "there", "all"})


# 2.4 (round 20's readers): "in front of" after a posture ("A person sitting in front of a
# television", "A chair sitting in front of a desk": they face each other) holds both ways round;
# so does being apart ("A toilet is separated from a curtain").
FACING_RELATIONS = frozenset({"facing", "opposite of"})
FACING_POSTURES = frozenset({"sitting", "sits", "sit", "seated", "standing", "stands", "stand", "kneeling",
                             "kneels", "crouching", "crouched", "squatting"})
SEPARATION_WORDS = frozenset({"separated", "apart", "far", "distant", "isolated"})


def loosely_symmetric_between(lowers: list[str], tokens: list[Token], start: int, end: int, first_head: int) -> bool:
    """2.3: :func:`symmetric_between`, also for "with", "at", "passing by" and across verbs that
    take no object between the two phrases ("eats next to", "sitting with"); 2.4: "facing",
    "in front of" after a posture (:data:`FACING_POSTURES`) and "separated from"
    (:data:`SEPARATION_WORDS`)."""
    if tokens[first_head].dep in ("dobj", "dative", "obj"):
        return False  # "holding a plate with a sandwich" -> "holding a sandwich with a plate" moves what is held
    words = []
    for k in range(start, end):
        w, t = lowers[k], tokens[k]
        if w in _LINKING_WORDS or w in _TIME_ADVERBS or t.tag in ("DT", "WDT", "WP", ",") or not t.text.strip():
            continue
        if t.tag.startswith("VB") and not any(tokens[c].dep in ("dobj", "obj") for c in range(start, end)
                                              if tokens[c].head == k):
            continue  # a verb with no object here: "eats", "sitting", "skiing"
        words.append(w)
    joined = " ".join(words)
    if joined == "from" and SEPARATION_WORDS & set(lowers[start:end]):
        return True  # "is separated from", "far away from"
    if joined == "in front of" and FACING_POSTURES & set(lowers[start:end]):
        return True  # "A person sitting in front of a television" faces it: each is in front of the other
    return joined in LOOSELY_SYMMETRIC or joined in FACING_RELATIONS


# Nouns of a picture of the scene, not objects in it: "a photo of men on bicycles" -> "bicycles on
# a photo of men" swaps the frame (2.3, second reader of round 12).
FRAMING_NOUNS = frozenset({"photo", "photos", "photograph", "photographs", "picture", "pictures", "image", "images",
                           "view", "views", "shot", "shots", "snapshot", "pic", "pics", "closeup", "portrait",
                           "drawing", "painting", "poster", "reflection", "scene", "setting", "display", "selfie",
                           "illustration", "sketch", "cartoon", "rendering", "artwork", "postcard",  # round 22
                           "exposure", "shadow", "shadows", "silhouette", "silhouettes"})  # round 24


def described(tokens: list[Token], i: int) -> int:
    """The word adjective ``i`` describes, through coordinations ("red and white car": car)."""
    j, steps = i, 0
    while tokens[j].dep == "conj" and 0 <= tokens[j].head < len(tokens) and tokens[j].head != j and steps < 8:
        j, steps = tokens[j].head, steps + 1
    return tokens[j].head


def coordinated(tokens: list[Token], x: int, y: int) -> bool:
    """True when words ``x`` and ``y`` are coordinated or describe the same word ("grey and orange
    fire hydrant", "a big red ball", "a small black and orange bird"): swapped, they say the same."""
    tx, ty = tokens[x], tokens[y]
    return (tx.dep == "conj" and tx.head == y) or (ty.dep == "conj" and ty.head == x) or (
        tx.head == ty.head and tx.dep == ty.dep and tx.head not in (x, y)) or described(tokens, x) == described(tokens, y)


# ------------------------------------------------------------------------------------ output checks
def words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


@lru_cache(maxsize=4096)
def doubled_words(text: str) -> frozenset[tuple[str, str]]:
    """Adjacent equal words ("dancing and dancing" counts too: X and X)."""
    words = words_of(text)
    pairs = {(a, b) for a, b in zip(words, words[1:]) if a == b}
    pairs |= {(a, c) for a, b, c in zip(words, words[1:], words[2:]) if a == c and b in ("and", "or", ",")}
    for n in (2, 3, 4):  # "in the water in the water"
        pairs |= {(" ".join(words[k:k + n]),) * 2 for k in range(len(words) - 2 * n + 1)
                  if words[k:k + n] == words[k + n:k + 2 * n]}
    return frozenset(pairs)


def new_doubled_word(caption: str, negative: str) -> bool:
    """True when the negative repeats a word the caption did not ("a vintage vintage car")."""
    return bool(doubled_words(negative) - doubled_words(caption))


_ARTICLES = frozenset({"a", "an", "the"})


@lru_cache(maxsize=4096)
def stranded_determiners(text: str) -> int:
    """How many times an article is followed by another, directly or across one modifier-looking
    word ("A the person", "a snowy a skier", "a tow-away an orange cone"): a phrase cut at the
    wrong word by a swap (round 19's readers)."""
    words = re.findall(r"[a-z][a-z'-]*", text.lower())
    count = 0
    for k, w in enumerate(words):
        if w not in _ARTICLES:
            continue
        if k + 1 < len(words) and words[k + 1] in _ARTICLES:
            count += 1
        elif k + 2 < len(words) and words[k + 2] in _ARTICLES and (
                "-" in words[k + 1] or words[k + 1].endswith(("y", "ed", "ing", "ful", "ous"))):
            count += 1
    return count


def new_stranded_determiner(caption: str, negative: str) -> bool:
    return stranded_determiners(negative) > stranded_determiners(caption)


def quoted_texts(text: str) -> list[str]:
    return re.findall(r'"([^"]*)"|“([^”]*)”', text)


def keeps_fixed_text(caption: str, negative: str) -> bool:
    """True when every quoted text of the caption is in the negative unchanged."""
    return all(any(part and part in negative for part in q) for q in quoted_texts(caption))


# ------------------------------------------------------------------------------------ fixed phrases
# Word sequences that are one name or one idiom: no word of them is edited, and no swap moves part
# of one ("a cut in half sandwich", "up to bat", "cross country skiing", "orange juice").
FIXED_PHRASES: tuple[tuple[str, ...], ...] = tuple(tuple(p.split()) for p in (
    "cut in half", "cut in halves", "sliced in half", "up to bat", "at bat", "in route", "en route",
    "stir fry", "stir fried", "cross country", "cross country skiing", "cross country skier", "cross country skiers", "side by side", "bent over", "each other", "one another",
    "its way", "their way", "his way", "her way", "smart phone", "smart phones", "smart device",
    "smart devices", "soft drink", "soft drinks", "paper towel", "paper towels", "toilet paper",
    "high chair", "high chairs", "hard hat", "hard hats", "in half",
    "watering can", "watering cans", "in hand", "every direction", "all directions", "roman numerals",
    "roman numeral", "little league", "high rise", "high rises", "remote control", "remote controls", "big screen",
    "smart car", "smart cars", "black bear", "black bears", "cross legged", "both sides", "all over",
    "in every direction", "in all directions",
    "trade show", "mid air", "surf board", "surf boards", "wrapping paper", "middle eastern",
    "flip flop", "flip flops", "teddy bear", "teddy bears", "playing catch", "play catch", "lights on",
    "focus on", "in to",
    # 2.14 (rounds 89-92): idioms a negative broke ("a big hug" -> "a small hug", "on a bed of melted
    # cheese" -> "on a shelf of", "a hallway leading into the kitchen" -> "leading out of": it does
    # both; "a bed of" only before a bare noun, below)
    "big hug", "bed of", "beds of",
    "leading into", "leads into", "lead into", "leading out", "leads out", "leading to", "leads to",
)) + tuple(tuple(p.split()) for p in (
    # 2.14 (rounds 89-92): names a negative broke ("a jacket and bow tie" -> "bow a man", "lounge
    # chairs" -> "lounge cabinets", "a flat bed" (a truck's)); see FIXED_NAMES
    "bow tie", "bow ties", "lounge chair", "lounge chairs", "flat bed", "flat beds", "flat bread", "flat breads",
))
# Fixed phrases that name one thing: no word of them is edited and no swap moves part of one, but
# unlike an idiom they leave the verb before them free ("A dog wearing a bow tie" -> "selling").
# Only 2.14's names: the older ones ("teddy bear", "hard hat") keep their verbs fixed, as before.
FIXED_NAMES: frozenset[tuple[str, ...]] = frozenset(tuple(p.split()) for p in (
    "bow tie", "bow ties", "lounge chair", "lounge chairs", "flat bed", "flat beds", "flat bread", "flat breads"))
# "a bed of lettuce" is a layer; "the bed of a truck" (a determiner after "of") is a thing
_LAYER_PHRASES = frozenset({("bed", "of"), ("beds", "of")})
# Colour words that also name a fruit or food: before one of these nouns (or a food noun) they
# name the food ("orange juice", "orange slices"), not a colour.
FOOD_COLOURS = frozenset({"orange", "lime", "lemon", "olive", "cherry", "peach", "plum", "chocolate", "salmon",
                          "mint", "coffee", "cream", "wine", "tomato", "strawberry", "lavender", "lilac"})
FOOD_PARTS = frozenset({
    "juice", "juices", "peel", "peels", "peeling", "peelings", "slice", "slices", "wedge", "wedges", "zest",
    "rind", "rinds", "segment", "segments", "half", "halves", "tree", "trees", "soda", "sodas", "sauce",
    "marmalade", "jam", "smoothie", "blossom", "blossoms", "pieces", "piece", "chunks", "skin", "skins",
    "drink", "drinks", "flavor", "flavored", "ice", "cream", "cake", "cakes", "pie", "tart",
})


def _phrases_by_first_word(phrases: tuple[tuple[str, ...], ...]) -> dict[str, tuple[tuple[str, ...], ...]]:
    """first word -> the phrases that start with it, in the order of ``phrases``."""
    out: dict[str, list[tuple[str, ...]]] = {}
    for phrase in phrases:
        out.setdefault(phrase[0], []).append(phrase)
    return {word: tuple(group) for word, group in out.items()}


_FIXED_PHRASES_BY_FIRST_WORD = _phrases_by_first_word(FIXED_PHRASES)


def fixed_phrase_spans(lowers: list[str]) -> list[tuple[int, int]]:
    """[start, end) of every :data:`FIXED_PHRASES` occurrence (in the order of the list, per word);
    "a bed of" only before a bare noun ("on a bed of rice", not "the bed of a truck")."""
    spans = []
    for i, w in enumerate(lowers):
        for phrase in _FIXED_PHRASES_BY_FIRST_WORD.get(w, ()):
            if tuple(lowers[i:i + len(phrase)]) == phrase and not (
                    phrase in _LAYER_PHRASES and lowers[i + 2:i + 3] and lowers[i + 2] in _DETERMINERS_AFTER_OF):
                spans.append((i, i + len(phrase)))
    return spans


_DETERMINERS_AFTER_OF = frozenset({"a", "an", "the", "this", "that", "his", "her", "its", "their", "my", "our",
                                   "your", "one"})


def in_fixed_name(lowers: list[str], spans: list[tuple[int, int]], k: int) -> bool:
    """Token ``k`` is inside one of ``spans`` that is a :data:`FIXED_NAMES` name."""
    return any(s <= k < e and tuple(lowers[s:e]) in FIXED_NAMES for s, e in spans)


def cuts_phrase(start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    """True when tokens [start, end) hold part, not all, of one of ``spans``."""
    return any(s < end and start < e and not (start <= s and e <= end) for s, e in spans)


def names_a_food(lowers: list[str], i: int, food_nouns) -> bool:
    """True when colour word ``i`` names a fruit or food here ("orange juice", "orange slices",
    "an orange cake"): a noun of :data:`FOOD_PARTS` or of ``food_nouns`` follows."""
    if lowers[i] not in FOOD_COLOURS or i + 1 >= len(lowers):
        return False
    nxt = lowers[i + 1]
    return nxt in FOOD_PARTS or nxt in food_nouns


# ------------------------------------------------------------------------------------ agreement
_SINGULAR_FORMS = frozenset({"is", "was", "has", "does"})
_PLURAL_FORMS = frozenset({"are", "were", "have", "do"})
_RELATIVE_PRONOUNS = frozenset({"that", "which", "who"})


def _finite_number(tokens: list[Token], lowers: list[str], verb: int, children: list[list[int]]) -> str | None:
    """"sg" or "pl" when verb ``verb`` (or an auxiliary of it) is a present/past form that shows
    number ("is", "has", "sits"/VBZ, "sit"/VBP), else None."""
    auxiliaries = [c for c in children[verb] if tokens[c].dep in ("aux", "auxpass")]
    for k in [verb] + auxiliaries:
        if lowers[k] in _SINGULAR_FORMS or tokens[k].tag == "VBZ":
            return "sg"
        if lowers[k] in _PLURAL_FORMS or tokens[k].tag == "VBP":
            return "pl"
    if tokens[verb].tag == "VB" and not auxiliaries and tokens[verb].dep == "ROOT":
        return "pl"  # "A woman and a child watch a train": a present plural the tagger read as a base form
    return None


def required_number(tokens: list[Token], lowers: list[str], head: int, children: list[list[int]]) -> str | None:
    """The number a phrase with head noun ``head`` must keep for the verbs that agree with it: as
    subject ("Pitas on a grill get"), or through a relative clause ("bananas that are"); None when
    no verb shows number."""
    t = tokens[head]
    if t.dep in ("nsubj", "nsubjpass") and 0 <= t.head < len(tokens) and t.head != head:
        number = _finite_number(tokens, lowers, t.head, children)
        if number is not None:
            return number
    for r in children[head]:
        if tokens[r].dep == "relcl" and any(tokens[c].dep in ("nsubj", "nsubjpass") and lowers[c] in _RELATIVE_PRONOUNS
                                            for c in children[r]):
            number = _finite_number(tokens, lowers, r, children)
            if number is not None:
                return number
    return None


# ------------------------------------------------------------------------------------ clauses
# Words that start another clause ("... next to rental signs while a cop watches"): a swap across
# them moves a subject into a place phrase and back.
CLAUSE_WORDS = frozenset({"while", "as", "when", "because", "whilst", "whereas", "if", "though", "although"})


def crosses_clause(tokens: list[Token], lowers: list[str], start: int, end: int) -> bool:
    """True when the words between two phrases hold a clause opener or a reciprocal ("while",
    "each other")."""
    between = lowers[start:end]
    return any(w in CLAUSE_WORDS or tokens[start + k].dep == "mark" for k, w in enumerate(between)) or \
        "other" in between or "another" in between


def is_compound_participle(tokens: list[Token], start: int, end: int, second_start: int) -> bool:
    """True when one participle alone sits between a phrase and a bare noun ("a building lined
    street", "a rain soaked window"): noun + participle is a modifier of the second noun."""
    return end - start == 1 and tokens[start].tag in ("VBN", "VBD") and tokens[second_start].tag in NOUN_TAGS


# ------------------------------------------------------------------------------------ verb frames
# Prepositions an intransitive verb of the vocabulary takes after it: "sitting through a forest",
# "waiting to a child" are not English. A verb is only replaced by one that takes the preposition
# after it (its first word: "in front of" -> "in").
_STATIC = frozenset({"on", "in", "at", "by", "near", "next", "beside", "under", "behind", "inside", "outside",
                     "atop", "against", "with", "among", "above", "below", "beneath", "underneath", "along",
                     "around", "over", "on top", "across", "between", "amongst", "alongside", "upon", "outdoors"})
_MOTION = _STATIC | frozenset({"through", "into", "past", "down", "up", "toward", "towards", "to", "onto", "off",
                               "out", "from", "beyond", "across", "around", "away", "inside", "under"})
_STILL = _STATIC - {"at"}
VERB_PREPOSITIONS: dict[str, frozenset[str]] = {
    **{v: _STATIC for v in ("sit", "stand", "kneel", "crouch", "wait", "pose")},
    **{v: _STILL for v in ("lie", "rest", "sleep", "graze")},
    "lean": _STILL | {"out"}, "hang": _STILL | {"from", "off", "out", "down"},
    **{v: _MOTION for v in ("walk", "run", "jump", "swim", "climb", "fall", "ski", "surf", "skate", "skateboard",
                            "snowboard", "float")},
    "dance": _STATIC | {"to", "through", "across"},
    "smile": frozenset({"at", "with", "in", "on", "next", "beside", "near", "behind", "by"}),
    "laugh": frozenset({"at", "with", "in", "on", "next", "beside", "near", "behind", "by"}),
    "look": frozenset({"at", "into", "through", "out", "down", "up", "over", "around", "in", "toward", "towards",
                       "from", "across", "under", "behind", "inside", "outside", "for"}),
    "talk": frozenset({"to", "with", "on", "at", "in", "about", "near", "next", "by", "while", "into"}),
    "play": _STATIC | {"with"},
}
# Prepositions after a participle ("attached to", "made out of", "divided into") that belong to it:
# another participle there is not English; only place words ("parked on", "covered in") are open.
PARTICIPLE_PLACES = frozenset({"on", "in", "at", "near", "next", "beside", "behind", "under", "inside", "outside",
                               "atop", "above", "below", "beneath", "underneath", "by", "with", "along"})
# Verbs whose preposition is a particle of theirs ("put on skis" = wear): "on" there has no opposite.
PARTICLE_VERBS = frozenset({"put", "puts", "putting", "try", "tries", "trying", "turn", "turns", "turning",
                            "take", "takes", "taking", "hold", "holds", "holding", "hang", "hangs", "hanging"})
# Verbs whose object carries the meaning ("takes a bite", "makes its way", "has a drink").
LIGHT_VERBS = frozenset({"make", "take", "give", "get", "do", "have", "pay"})  # round 15: "pays attention"


def preposition_after(tokens: list[Token], lowers: list[str], i: int) -> str | None:
    """The preposition right after verb ``i`` (over adverbs: "looking intently at"), or None."""
    k = i + 1
    while k < len(tokens) and tokens[k].tag in ("RB", "RBR") and lowers[k] not in _MOTION:
        k += 1
    if k < len(tokens) and tokens[k].tag in ("IN", "TO", "RP") or (k < len(tokens) and lowers[k] in _MOTION):
        return lowers[k]
    return None


# Verbs of looking: "at" after them names what is looked at ("looking at the camera"); only
# smiling or laughing at it keeps that sense ("standing at the camera" is not English) without
# being implied by it ("smiling at the camera" -> "looking at the camera" is still true).
LOOKING_VERBS = frozenset({"look", "stare", "gaze", "smile", "laugh", "glance", "point", "wave", "bark", "peer"})


def frame_misfits(preposition: str | None, verbs, original: str = "") -> frozenset[str]:
    """The intransitive ``verbs`` that do not take ``preposition`` after them (after a verb of
    looking, "at" takes only verbs of looking)."""
    if preposition is None:
        return frozenset()
    looking = preposition == "at" and bool(base_guesses(original) & LOOKING_VERBS)
    return frozenset(v for v in verbs if v in VERB_PREPOSITIONS and (
        preposition not in VERB_PREPOSITIONS[v] or (looking and v not in ("smile", "laugh"))))


def after_other_verb(tokens: list[Token], i: int) -> bool:
    """True when verb ``i`` follows another "-ing" verb ("standing looking through", "kneeling down
    talking to"): the two describe one scene, and a replacement rarely fits beside the first."""
    k = i - 1
    while k >= 0 and tokens[k].tag in ("RB", "RP"):
        k -= 1
    return k >= 0 and tokens[k].tag == "VBG"


def manner_adverb_after(tokens: list[Token], i: int) -> bool:
    """True when a manner adverb follows verb ``i`` ("looking intently at", "looking sideways at"):
    it belongs to the verb."""
    return i + 1 < len(tokens) and (tokens[i + 1].tag in ("RB", "RBR") or tokens[i + 1].dep == "advmod") and \
        tokens[i + 1].text.lower().endswith(("ly", "ways", "ward", "wards"))


def base_guesses(word: str) -> set[str]:
    """Possible base forms of an inflected word ("leaping" -> leap, "divided" -> divide), for
    matching synonym groups of words the vocabulary does not inflect."""
    out = {word}
    for suffix, repl in (("ing", ""), ("ing", "e"), ("ed", ""), ("ed", "e"), ("d", ""), ("s", ""), ("es", ""),
                         ("ies", "y"), ("ied", "y")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2:
            out.add(word[:-len(suffix)] + repl)
    out |= {w[:-1] for w in out if len(w) > 3 and w[-1] == w[-2]}  # "running" -> "runn" -> "run"
    return out


def one_edit_apart(a: str, b: str) -> bool:
    """True when ``b`` is ``a`` with one letter changed, added or dropped ("ealking"/"walking"): the
    caption's word was a typo of the replacement."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b)) == 1
    short, long_ = sorted((a, b), key=len)
    return any(long_[:k] + long_[k + 1:] == short for k in range(len(long_)))


# Collective nouns that take a plural verb with their "of" phrase ("a group of people sit").
COLLECTIVES = frozenset({"group", "couple", "pair", "lot", "lots", "bunch", "number", "herd", "flock", "crowd", "team",
                         "family", "handful", "variety", "few", "dozen", "dozens", "pack", "bevy", "gaggle"})
# Words before "of" that need a plural after them ("lots of a lawn", "a couple of a table").
PLURAL_PARTITIVES = frozenset({"lots", "lot", "couple", "number", "bunch", "group", "pair", "herd", "flock", "few",
                               "plenty", "variety", "several", "many", "some", "rows", "row", "pile", "stack", "set",
                               "collection", "assortment", "crowd", "team", "line", "both", "each", "one", "two",
                               "three", "four", "five"})
# "-ing" words and others that tag as verbs but do not say what anything does ("including").
NOT_ACTIONS = frozenset({"including", "includes", "include", "contains", "containing", "contain",
                         "according", "regarding", "concerning", "considering", "excluding",
                         "following", "featuring", "depicting", "showing", "shows", "shown", "show", "seen",
                         # round 15 (second reader): states of mind, not actions a photo shows
                         "likes", "like", "liking", "loves", "love", "loving", "wants", "want", "wanting",
                         "needs", "need", "features",
                         # round 16: "enjoying", "learning", "sharing", "concentrating", "a drawer missing"
                         "enjoying", "enjoys", "enjoy", "learning", "learns", "learn", "sharing", "shares", "share",
                         "concentrating", "concentrates", "missing",
                         "resembling", "resembles", "resemble",  # round 17
                         "forms", "form", "forming"})  # round 28: "forms the centerpiece"
# Round 16: the first half of a two-word verb ("blow drying", "stir frying", "water skiing"): the
# second half is no verb of its own.
VERB_FIRST_HALVES = frozenset({"blow", "air", "spray", "deep", "stir", "sun", "sky", "kite", "wind", "para", "snow",
                               "water", "wake", "ice", "roller", "figure"})
# Verbs of eating: "grazing on dried grass", "chewing on a stick": the "on" is the verb's, not a place.
EATING_VERBS = frozenset({"grazing", "graze", "grazes", "feeding", "feed", "feeds", "chewing", "chew", "chews",
                          "munching", "munch", "munches", "nibbling", "nibble", "nibbles", "snacking", "dining",
                          "fixed", "focused", "focusing"})  # "fixed on the pitcher": attention
# Transitive verbs that move their object along a path ("riding skis down a slope"): only these fit
# before "down", "through", "across"...
PATH_TRANSITIVES = frozenset({"ride", "carry", "push", "pull", "drag", "chase", "drive", "throw", "kick", "toss"})
PATH_PREPOSITIONS = frozenset({"down", "up", "through", "across", "along", "into", "past", "toward", "towards", "onto"})


def needs_plural_place(lowers: list[str], start: int, end: int) -> bool:
    """True when the phrase at [start, end) stands where only a plural fits: after "lots of", "a
    couple of", "between", or as the subject of "each other"."""
    if start >= 2 and lowers[start - 1] == "of" and lowers[start - 2] in PLURAL_PARTITIVES:
        return True
    return start >= 1 and lowers[start - 1] in ("between", "among", "amongst")


def cuts_compound(tokens: list[Token], start: int, end: int) -> bool:
    """True when a word of [start, end) modifies a noun outside it ("a desert | setting", "a
    watering | can"), or the phrase ends right before a number it names ("number | 41")."""
    for k in range(start, end):
        h = tokens[k].head
        if tokens[k].dep in ("compound", "amod", "nmod") and not start <= h < end and h > k:
            return True
    if start > 0 and start <= tokens[start - 1].head < end and tokens[start - 1].dep in ("compound", "nmod", "amod"):
        return True  # "a number | 41 bus"
    return end < len(tokens) and tokens[end].tag == "CD" and tokens[end - 1].text.lower() == "number"


def same_scene_places(tokens: list[Token], lowers: list[str], x_head: int, y_head: int, between: list[str],
                      in_relation: list[bool] | None = None) -> bool:
    """True when two phrases are the objects of two place prepositions of one word, one right
    after the other ("on his surfboard in the water", "in skis in the snow"): swapped, they
    describe the same scene."""
    places = ("in", "on", "at", "inside", "near", "by")
    if len(between) != 1 or between[0] not in places:
        return False
    px, py = tokens[x_head].head, tokens[y_head].head
    if not (0 <= px < len(tokens) and 0 <= py < len(tokens)):
        return False
    place = lowers[px] in places or (in_relation is not None and in_relation[px])  # "on top of"
    top, steps = px, 0  # the first word of a relation phrase ("on" of "on top of")
    while in_relation is not None and in_relation[tokens[top].head] and tokens[top].head != top and steps < 4:
        top, steps = tokens[top].head, steps + 1
    return tokens[x_head].dep == "pobj" and tokens[y_head].dep == "pobj" and place and \
        (tokens[top].head == tokens[py].head or tokens[py].head == x_head)


REFLEXIVES = frozenset({"himself", "herself", "itself", "themselves", "each", "another"})


def only_copula(lowers: list[str], start: int, end: int) -> bool:
    """True when only "is"/"are"/... stands between two phrases ("The bathroom is a mess"): swapped,
    they say the same."""
    words = [w for w in lowers[start:end] if w.strip()]
    return bool(words) and all(w in ("is", "are", "was", "were", "be", "seems", "looks", "becomes") for w in words)


def path_after_object(a, i: int) -> bool:
    """True when verb ``i``'s object is followed by a path ("riding skis down a slope")."""
    for k in a.children[i]:
        if a.tokens[k].dep == "dobj":
            c = a.chunk_of[k]
            end = a.chunks[c].end if c >= 0 else k + 1
            return end < len(a.tokens) and a.lowers[end] in PATH_PREPOSITIONS
    return False


# What took the picture (2.11, round 73: never moved by a relation swap after "for", "facing"...;
# 2.14, round 91: no noun replaced by it where something is in front of it or looks at it)
VIEWER_NOUNS = frozenset({"camera", "cameras", "photographer", "photographers", "viewer"})


def camera_could_be_meant(tokens: list[Token], lowers: list[str], start: int) -> bool:
    """2.14: the noun phrase ending at the noun ``start`` follows "in front of", "at", "for",
    "into" or "toward(s)" ("stand in front of a large television", "smiling at the dog"): there "a
    camera" could name the one that takes the picture (and "waiting for a camera" is no loss)."""
    k = start - 1
    while k >= 0 and (tokens[k].tag in _PHRASE_INSIDE_TAGS or lowers[k] in ("a", "an", "the", "some")):
        k -= 1
    return k >= 0 and (lowers[max(0, k - 2):k + 1] == ["in", "front", "of"]
                       or lowers[k] in ("at", "for", "into", "toward", "towards"))


_PHRASE_INSIDE_TAGS = frozenset({"DT", "PRP$", "JJ", "JJR", "JJS", "NN", "NNS", "VBN", "CD", "HYPH", "RB"})


# 2.14 (rounds 90, 93): the two dimensions of the shape words, a thing's outline and its profile,
# which do not exclude each other
OUTLINE_SHAPES = frozenset({"round", "square", "rectangular", "circular", "triangular", "oval"})
PROFILE_OPPOSITES = {"curved": frozenset({"straight"}), "straight": frozenset({"curved"}),
                     # round 93: "a flat tire", "a flat hill", "a flat boat" -> "curved", "pointed": still true
                     # (an outline, a name); "flat" and "pointed" have no opposite in the vocabulary
                     "flat": frozenset(), "pointed": frozenset()}


def adjective_misfits(original: str, pool: str, words, on_person: bool) -> frozenset[str]:
    """v2.2: the words of an adjective's ``pool`` that may not replace it: those on its own side
    of its dimension (size, age), any state that is not its opposite, its near colours, and for
    age the words of the other kind of noun ("a modern child")."""
    words = frozenset(words)
    if pool == "state":
        return words - STATE_OPPOSITES.get(original, frozenset())
    if pool == "colour":
        return frozenset().union(*(g for g in NEAR_COLOURS if original in g))
    if pool == "material":  # 2.3
        return frozenset().union(*(g for g in NEAR_MATERIALS if original in g))
    if pool == "pattern" and original in ("patterned", "plain"):
        return words  # 2.3: "patterned" -> "striped": stripes are a pattern
    if pool == "shape":  # 2.14 (round 90): "Flat pizza like object" -> "Square": an outline and a profile
        allowed = OUTLINE_SHAPES if original in OUTLINE_SHAPES else PROFILE_OPPOSITES.get(original, frozenset())
        return words - allowed
    out: set[str] = set()
    if pool in ("size", "age"):  # only the other side of the original's own scale(s)
        opposite = frozenset().union(*(second if original in first else first
                                       for first, second in ADJECTIVE_SIDES if original in first | second))
        out |= words - opposite  # a word of no scale: nothing to oppose it with
    if pool == "age":
        out |= words - (PERSON_WORDS_FOR_AGE if on_person else THING_WORDS_FOR_AGE)
    return frozenset(out)
