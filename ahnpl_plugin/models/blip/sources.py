"""Where ``ahnpl_blip``'s inputs come from, and one check of all of them before anything is built.

Inputs: ``model.tokenizer`` (``builtin-tiny``, a local folder with ``vocab.txt``, or a Hugging
Face hub id read from the hub cache :func:`hf_hub_cache` or the network); the weights
(``model.finetuned`` when ``load_finetuned``, else ``model.pretrained``: a local path, or an http(s)
URL that LAVIS's ``download_cached_file`` keeps at :func:`url_cache_path`, i.e.
``<torch.hub.get_dir()>/checkpoints/<file name>``); and, for the base types, ``med_config_path``.

How the libraries behave without network (measured with transformers 4.55, huggingface_hub 0.36,
LAVIS 1.0.2, no DNS): ``BertTokenizer.from_pretrained("bert-base-uncased")`` without a cached copy
retries five times with back-off (about 27 s) before failing; with ``HF_HUB_OFFLINE=1`` it fails
at once, with a misleading "requires the protobuf library" message. LAVIS's ``download_cached_file``
ignores ``HF_HUB_OFFLINE``: it uses the cached file when there, else calls ``urlopen`` without a
timeout, which fails at once when DNS fails but waits for the TCP timeout (minutes) where packets
are dropped. Each reports only its own input, so a user fixed one missing input per attempt.

:func:`check_blip_inputs` therefore looks at every input first and raises one
:class:`BlipInputsError` listing every problem with its fix. Local paths are checked on disk;
remote inputs in their cache first (a cached copy never needs the network); the uncached ones need
the network, which counts as absent without any network call when ``HF_HUB_OFFLINE`` or
``TRANSFORMERS_OFFLINE`` is set (the Hugging Face convention users already set for transformers),
and is otherwise tested with one TCP connection per host with a :data:`PROBE_TIMEOUT_S` timeout
(a quick, certain "no" instead of the libraries' retries; skipped where a proxy variable is set,
since a direct connection says nothing about a proxied one). When the network is there, the
libraries download as before.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from urllib.parse import urlparse

from ahnpl_plugin.errors import BlipInputsError
from ahnpl_plugin.models.blip.architectures import BASE_TYPES, DEFAULT_MED_CONFIG, med_config_problem
from ahnpl_plugin.paths import resolve_user_path

BUILTIN_TINY = "builtin-tiny"  # model.tokenizer value of the tiny type's built-in vocabulary
OFFLINE_ENV_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
TRUE_VALUES = ("1", "ON", "YES", "TRUE")  # huggingface_hub's reading of a boolean variable
PROXY_ENV_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
PROBE_TIMEOUT_S = 3.0
OFFLINE_REASON = "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set (no download tried)"
TOKENIZER_FIX = (
    "set model.tokenizer to a local folder holding bert-base-uncased's vocab.txt (e.g. saved with "
    "BertTokenizer.save_pretrained on a machine with network)"
)


# ----------------------------------------------------------------------------- offline, caches


def offline_in(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` sets ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` to a true value."""
    return any(str(environ.get(name, "")).strip().upper() in TRUE_VALUES for name in OFFLINE_ENV_VARS)


def hub_offline() -> bool:
    """Offline mode: the variables now, or as huggingface_hub read them when it was imported."""
    import huggingface_hub.constants

    return offline_in(os.environ) or bool(huggingface_hub.constants.HF_HUB_OFFLINE)


def hf_hub_cache() -> str:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE`` / ``HF_HOME``/hub) the tokenizer is read from."""
    import huggingface_hub.constants

    return str(huggingface_hub.constants.HF_HUB_CACHE)


def hub_endpoint() -> str:
    """The Hugging Face hub's URL (``HF_ENDPOINT``), where uncached tokenizers come from."""
    import huggingface_hub.constants

    return str(huggingface_hub.constants.ENDPOINT)


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def url_cache_path(url: str) -> str:
    """Where LAVIS's ``download_cached_file`` keeps ``url``: ``<torch hub dir>/checkpoints/<file name>``."""
    import torch.hub

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def unreachable_reason(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why ``url``'s host cannot be reached (one TCP connection, ``timeout`` s), or None when it can
    or a proxy is configured (then only the download itself can tell)."""
    if any(os.environ.get(name) for name in PROXY_ENV_VARS):
        return None
    parts = urlparse(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
    except OSError as exc:
        return f"{parts.hostname} cannot be reached ({type(exc).__name__}: {exc})"
    return None


# ----------------------------------------------------------------------------- tokenizer


def tokenizer_kind(spec: str) -> str:
    """``empty`` | ``builtin`` | ``folder`` (an existing path, or one written as a path) | ``hub`` (an id)."""
    spec = spec.strip() if isinstance(spec, str) else ""
    if not spec:
        return "empty"
    if spec == BUILTIN_TINY:
        return "builtin"
    if resolve_user_path(spec).exists() or spec.startswith(("/", ".", "~")):
        return "folder"
    return "hub"


def tokenizer_folder_problem(spec: str) -> str | None:
    """Why a ``folder`` tokenizer value cannot be read (one line), or None when it has a vocab.txt."""
    path = resolve_user_path(spec.strip())
    if not path.is_dir():
        return f"model.tokenizer: folder not found: {spec} (a folder with BERT's vocab.txt; {TOKENIZER_FIX})"
    if not (path / "vocab.txt").is_file():
        return f"model.tokenizer: {path} has no vocab.txt (expected a bert-base-uncased tokenizer folder)"
    return None


def hub_tokenizer_cached(spec: str, cache_dir: str | None = None) -> bool:
    """Whether hub id ``spec``'s vocab.txt is in the Hugging Face cache (so loading it needs no network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(spec.strip(), "vocab.txt", cache_dir=cache_dir or hf_hub_cache())
    except Exception:  # noqa: BLE001 - an id the hub rejects (HFValidationError) is not cached either
        return False
    return isinstance(found, str)


def uncached_tokenizer_message(spec: str, reason: str) -> str:
    """One line for a hub tokenizer that is neither cached nor downloadable (``reason``: why not)."""
    return (
        f"model.tokenizer: {spec!r} is not in the Hugging Face cache {hf_hub_cache()} (no vocab.txt of it) "
        f"and {reason}; offline, {TOKENIZER_FIX}, or run once with network to fill that cache"
    )


EMPTY_TOKENIZER_MESSAGE = (
    "model.tokenizer is empty: give a folder with bert-base-uncased's vocab.txt, a hub id "
    f"(bert-base-uncased), or {BUILTIN_TINY} for the tiny type"
)


# ----------------------------------------------------------------------------- weights


def weights_source(options) -> tuple[str, str]:
    """``(config key, value)`` of the checkpoint a build loads: finetuned, pretrained, or ("pretrained", "")."""
    if options.load_finetuned:
        return "finetuned", options.finetuned
    return "pretrained", options.pretrained


OPENAI_MESSAGE = (
    "model.{key}: 'openai' names OpenAI's CLIP weights, which ahnpl_blip cannot load; give a BLIP "
    'checkpoint (path or URL), or "" for random initialisation'
)


def local_weights_problem(source: str, key: str) -> str | None:
    """Why a non-URL checkpoint value cannot be read (one line), or None when the file is there."""
    if source == "openai":  # left over from an ahnpl_clip config whose arch was swapped
        return OPENAI_MESSAGE.format(key=key)
    if not os.path.isfile(os.path.expanduser(source)):
        return f"model.{key}: checkpoint not found: {source}"
    return None


def uncached_url_message(url: str, key: str, reason: str) -> str:
    """One line for a checkpoint URL that is neither cached nor downloadable (``reason``: why not)."""
    path = url_cache_path(url)
    return (
        f"model.{key}: {url} is not in the torch hub cache (looked for {path}) and {reason}; put the file "
        f"at {path}, or set model.{key} to a local copy of it"
    )


# ----------------------------------------------------------------------------- all inputs


def blip_input_problems(options, offline: bool | None = None,
                        reach: Callable[[str], str | None] | None = None) -> list[str]:
    """One line per input of validated ``options`` (BlipOptions) that a build could not get.

    ``offline`` (default :func:`hub_offline`) skips the network entirely; otherwise ``reach(url)``
    (default :func:`unreachable_reason`) is asked once per host of an uncached remote input.
    """
    offline = hub_offline() if offline is None else offline
    reach = reach or unreachable_reason
    problems: list[str] = []
    remote: list[tuple[str, Callable[[str], str]]] = []  # (URL needing the network, message given why not)

    spec, kind = options.tokenizer, tokenizer_kind(options.tokenizer)
    if kind == "empty":
        problems.append(EMPTY_TOKENIZER_MESSAGE)
    elif kind == "folder":
        problems.append(tokenizer_folder_problem(spec))
    elif kind == "hub" and not hub_tokenizer_cached(spec):
        remote.append((hub_endpoint(), lambda reason, spec=spec.strip(): uncached_tokenizer_message(spec, reason)))

    key, source = weights_source(options)
    if source and is_url(source):
        if not os.path.isfile(url_cache_path(source)):
            remote.append((source, lambda reason, source=source, key=key: uncached_url_message(source, key, reason)))
    elif source:
        problems.append(local_weights_problem(source, key))

    if options.model_type in BASE_TYPES:
        problems.append(med_config_problem(options.architecture.get("med_config_path", DEFAULT_MED_CONFIG)))

    reasons: dict[str, str | None] = {}  # host -> why it cannot be reached (asked once per host)
    for url, message in remote:
        host = urlparse(url).netloc
        if offline:
            reasons[host] = OFFLINE_REASON
        elif host not in reasons:
            reasons[host] = reach(url)
        if reasons[host]:
            problems.append(message(reasons[host]))
    return [p for p in problems if p]


def inputs_message(problems: list[str]) -> str:
    """One line for all problems: the problem itself when alone, else numbered."""
    if len(problems) == 1:
        return problems[0]
    listed = "; ".join(f"({i}) {p}" for i, p in enumerate(problems, 1))
    return f"ahnpl_blip lacks {len(problems)} inputs: {listed}"


def check_blip_inputs(options, offline: bool | None = None,
                      reach: Callable[[str], str | None] | None = None) -> None:
    """Raise one :class:`BlipInputsError` naming every missing input of ``options`` (see the module docstring)."""
    problems = blip_input_problems(options, offline, reach)
    if problems:
        raise BlipInputsError(inputs_message(problems))
