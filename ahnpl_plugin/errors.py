"""Every error a user can fix, in one tree: :class:`UserError` is the root.

The entry points (``lavis.train``/``lavis.evaluate`` through :mod:`ahnpl_plugin.train` and
:mod:`ahnpl_plugin.evaluate`, and every ``python -m ahnpl_plugin.*`` command) print a
``UserError`` as one line, without a traceback, and exit with code 2. Anything else is a bug and
keeps its traceback. The branches say where the problem is: a config (:class:`ConfigError`), a
data file (:class:`DataError`), a benchmark (:class:`BenchmarkError`), model weights, or the
training itself. Classes that callers also catch as ``ValueError`` / ``FileNotFoundError`` keep
those bases. Pure Python (no imports), so every floor of the package may import it.
"""


class UserError(Exception):
    """Bad input a user can fix: the message says what is wrong and how to fix it."""


# ----------------------------------------------------------------------------------- configs
class ConfigError(UserError):
    """A config key, value, model type or path that cannot work."""


def unknown_choice(kind: str, value, valid) -> ConfigError:
    """Uniform "unknown X 'v'; valid: a, b, c" error."""
    valid = ", ".join(sorted(str(v) for v in valid))
    return ConfigError(f"unknown {kind} {value!r}; valid: {valid}")


# -------------------------------------------------------------------------------------- data
class DataError(UserError):
    """A data file, row or path a user can fix; the message names the file, the row and the fix."""


class NegativesError(UserError):
    """Bad input to the negatives generator or a missing dependency (spaCy model) a user can fix."""


class UnreadableImageError(UserError):
    """An image of a choice dataset cannot be read; the message names the file."""


class ZeroShotDataError(UserError):
    """A zero-shot set's files are missing or malformed."""


class CardInfoError(UserError, ValueError):
    """A card-info YAML with unknown keys or incomplete result rows."""


# ------------------------------------------------------------------------------- benchmarks
class BenchmarkError(UserError):
    """Base class of every error raised by the benchmark loaders (pure, no LAVIS)."""


class BenchmarkFileNotFoundError(BenchmarkError, FileNotFoundError):
    """A benchmark annotation file is not where it is expected; the message says where to get it."""


class BenchmarkFormatError(BenchmarkError, ValueError):
    """A benchmark file does not have the distributed layout; the message names file and key."""


class MissingImagesError(BenchmarkError, FileNotFoundError):
    """Images referenced by a benchmark are missing and ``strict=True`` was asked for."""


class ScoreInputError(BenchmarkError, ValueError):
    """The similarity arrays passed to :meth:`Benchmark.score` do not match the items."""


class BenchmarkInputError(UserError):
    """A benchmark file is missing or malformed, images are missing under ``strict``, or no item
    of a benchmark can be evaluated (raised by the LAVIS dataset builders)."""


class BenchmarkMissingError(BenchmarkInputError):
    """A benchmark's files are absent, or none of its items has its images: the suite
    (``ahnpl_compositional``) leaves such a benchmark out and lists it unless ``run.strict``."""


class BenchmarkImageError(UserError):
    """A benchmark image exists but cannot be decoded."""


# ------------------------------------------------------------------------------ model weights
class PretrainedWeightsError(ConfigError):
    """``model.pretrained`` / ``model.finetuned`` names weights that cannot be found or used."""


class BlipInputsError(ConfigError):
    """Inputs of ``ahnpl_blip`` (tokenizer, weights, BERT config) missing locally and not downloadable."""


class BlipWeightsError(ConfigError):
    """A BLIP checkpoint that cannot be found, read or loaded into this model."""


class StartWeightsError(UserError):
    """Starting weights that cannot be found, rebuilt or matched (the message says which and why)."""


class LayoutError(UserError, ValueError):
    """A state dict is not the CLIP ViT layout expected (names the missing/unknown entries)."""


class PatchError(UserError, ValueError):
    """Weights that cannot be patched or merged (names the offending entry)."""


# ----------------------------------------------------------------------------------- training
class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""
