"""What a scene is and how it is described in words.

A :class:`Scene` is two :class:`Thing` objects (size, colour, shape and a pixel box). A
:class:`Description` is what a caption says: a subject :class:`Mention`, a relation key and an object
:class:`Mention`; :func:`caption_of` turns it into text. All of them convert to and from plain
JSON-able dicts (``to_dict`` / ``from_dict``), which is how records store them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ahnpl_plugin.synthetic.vocabulary import RELATION_PHRASES


@dataclass(frozen=True)
class Thing:
    """One drawn object; ``box`` = (x0, y0, x1, y1) in pixels, x1/y1 exclusive."""

    size: str
    colour: str
    shape: str
    box: tuple[int, int, int, int]

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    def to_dict(self) -> dict:
        return {"size": self.size, "colour": self.colour, "shape": self.shape, "box": list(self.box)}

    @staticmethod
    def from_dict(d: dict) -> "Thing":
        return Thing(d["size"], d["colour"], d["shape"], tuple(int(v) for v in d["box"]))


@dataclass(frozen=True)
class Scene:
    """Two things; the layout puts them in opposite halves of the image along one axis."""

    things: tuple[Thing, Thing]
    image_size: int

    def to_dict(self) -> dict:
        return {"image_size": self.image_size, "things": [t.to_dict() for t in self.things]}

    @staticmethod
    def from_dict(d: dict) -> "Scene":
        things = tuple(Thing.from_dict(t) for t in d["things"])
        if len(things) != 2:
            raise ValueError(f"a scene has exactly 2 things, got {len(things)}")
        return Scene(things, int(d["image_size"]))


def relation_between(a: Thing, b: Thing) -> str:
    """The relation key that holds for "a <relation> b", from the dominant axis of their centres.

    Image coordinates: y grows downwards, so "a above b" means a's centre has the smaller y.
    """
    (ax, ay), (bx, by) = a.centre, b.centre
    dx, dy = bx - ax, by - ay
    if abs(dx) > abs(dy):
        return "left" if dx > 0 else "right"
    return "above" if dy > 0 else "below"


@dataclass(frozen=True)
class Mention:
    """A noun phrase of a caption: "a [size] colour shape"; size None = not said."""

    size: str | None
    colour: str
    shape: str

    def to_dict(self) -> dict:
        return {"size": self.size, "colour": self.colour, "shape": self.shape}

    @staticmethod
    def from_dict(d: dict) -> "Mention":
        return Mention(d["size"], d["colour"], d["shape"])


@dataclass(frozen=True)
class Description:
    """What a caption states: "<subject> <relation phrase> <object>"."""

    subject: Mention
    relation: str
    object: Mention

    def to_dict(self) -> dict:
        return {"subject": self.subject.to_dict(), "relation": self.relation, "object": self.object.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "Description":
        return Description(Mention.from_dict(d["subject"]), d["relation"], Mention.from_dict(d["object"]))

    def with_mentions(self, subject: Mention, object: Mention) -> "Description":
        return replace(self, subject=subject, object=object)


def noun_phrase(mention: Mention) -> str:
    """ "a small red circle", "an orange square" (article agrees with the next word)."""
    words = ([mention.size] if mention.size else []) + [mention.colour, mention.shape]
    article = "an" if words[0][0] in "aeiou" else "a"
    return " ".join([article, *words])


def caption_of(description: Description) -> str:
    """The caption text of a description, e.g. "a small red circle to the left of a blue square"."""
    phrase = RELATION_PHRASES[description.relation]
    return f"{noun_phrase(description.subject)} {phrase} {noun_phrase(description.object)}"


def describe_scene(scene: Scene, say_size: tuple[bool, bool]) -> Description:
    """The true description "thing 0 <relation> thing 1", saying each size where asked."""
    a, b = scene.things
    return Description(
        Mention(a.size if say_size[0] else None, a.colour, a.shape),
        relation_between(a, b),
        Mention(b.size if say_size[1] else None, b.colour, b.shape),
    )
