"""Training-step throughput and peak memory: LAVIS's stock CLIP step vs the AHNPL step, side by side.

One process, one batch content, interleaved rounds (so a shared or throttling machine slows every
variant alike), forward + backward + optimiser step each time, the way ``ahnpl_runner`` runs a
step (autocast, every loss component read back to the host, AdamW, logit-scale clamp). Variants:

``a``  LAVIS's stock CLIP contrastive step: ``lavis.models.clip_models.model.CLIP.forward`` (its
       towers, text padded to the context, LAVIS's ``ClipLoss``). LAVIS builds that loss from the
       process group (``CLIP.loss`` calls ``dist.get_world_size()``); here it is given
       ``ClipLoss(world_size=1)``, the same symmetric InfoNCE. Its tokenizer is swapped for the
       plugin's cached one (identical ids, and the model's context length, which ``tiny`` needs).
``b``  AHNPL reference-style: ``ahnpl_clip`` with ``text_length: full`` (every text padded to the
       context), ``sdpa: false`` (LAVIS's attention blocks) and loss mode ``reference`` (all B*K
       negatives encoded, B x BK hard-negative logits), as the released code computes a step.
``c``  AHNPL as shipped: the default config (length buckets, SDPA, mode ``ahnpl``: valid
       negatives only).
Extra variants (ablations, ``--variants``): ``c-longest`` (one chunk cut to the batch's longest
text), ``c-mha`` (LAVIS's attention blocks), ``c-all-neg`` (invalid negatives encoded too),
``c-compile`` (``compile_towers()``; slow to warm up).

All variants start from the same random weights (speed does not depend on their values). Captions
follow a COCO-like length distribution (``CAPTION_WORDS``: ~11 words, tail to 50), each with K=5
hard negatives of the same length, a type invalid ("###", mask 0) with the rates in
``VALID_RATES`` (about half the negatives valid, as on COCO). Images are random and, with the
mask, already on the device (as the runner hands a batch over): data loading is not timed.
Tokenisation is timed inside the step for every variant, with the per-caption cache warm (the
warmup steps fill it); cold tokenisation is reported apart (``tokenize_cold_ms``): a run whose
captions do not repeat within the cache pays it unless its loader tokenises in its workers.

    python perf/step.py --device cpu                      # tiny, batch 64
    python perf/step.py --device cuda --batch 256 --json out.json   # ViT-B-32

Prints a Markdown table (step time median, pairs/s, ratios to a and b, peak memory). Peak memory
(CUDA only) is the variant's own: the peak allocated during its steps minus the resident weights and
optimiser state of the other variants held in the same process.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

TYPES = ("relation", "adj_swap", "adj", "noun", "verb")
# Share of valid negatives per type (mask 1). Assumed, not measured on COCO: relation and verb
# need two nouns / a verb or preposition, adj_swap two adjectives; ~56% valid overall.
VALID_RATES = {"relation": 0.6, "adj_swap": 0.15, "adj": 0.55, "noun": 0.9, "verb": 0.6}
# Approximate COCO 2014 train caption lengths in words (weight per length; annotators were asked
# for 8+ words; mean ~10.8; a thin tail to 50). The tail matters: one long text sets the length
# of a whole chunk.
CAPTION_WORDS = {
    7: 1.0, 8: 10.0, 9: 23.0, 10: 21.0, 11: 14.0, 12: 10.0, 13: 7.0, 14: 4.5, 15: 3.0, 16: 2.0,
    17: 1.3, 18: 0.9, 19: 0.6, 20: 0.4, 22: 0.35, 25: 0.2, 30: 0.1, 40: 0.04, 50: 0.02,
}
ARTICLES = ["a", "the", "two", "an", "some"]
ADJECTIVES = ["red", "small", "large", "white", "black", "young", "old", "green", "blue", "wooden", "tall", "empty"]
NOUNS = ["man", "woman", "dog", "cat", "table", "street", "bus", "plate", "pizza", "horse", "train", "kitchen",
         "field", "boy", "girl", "bench", "bed", "car", "tree", "window", "sign", "cake", "room", "water"]
VERBS = ["sitting", "standing", "holding", "riding", "walking", "eating", "looking", "playing", "parked", "lying"]
PREPOSITIONS = ["on", "in", "next to", "near", "with", "under", "behind", "at", "by", "of"]
VARIANTS = {
    "a": "LAVIS stock CLIP step (77-token text, ClipLoss)",
    "b": "AHNPL reference-style (full-context text, LAVIS attention, all B*K negatives)",
    "c": "AHNPL as shipped (length buckets, SDPA, valid negatives only)",
    "c-longest": "shipped, one chunk cut to the longest text",
    "c-mha": "shipped, LAVIS's MultiheadAttention blocks",
    "c-all-neg": "shipped, invalid negatives encoded too",
    "c-compile": "shipped + compile_towers()",
}


# ----------------------------------------------------------------------------- data


def caption(rng: random.Random, words: int) -> str:
    """A plausible caption of ``words`` words ("a red dog sitting on the wooden bench ...")."""
    out: list[str] = []
    while len(out) < words:
        out += [rng.choice(ARTICLES), rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(PREPOSITIONS)]
    return " ".join(out[:words]) + "."


def negative_of(rng: random.Random, text: str, kind: str) -> str:
    """A same-length variant of ``text`` (a swap or a one-word replacement, by ``kind``)."""
    words = text[:-1].split()
    pairs = [(i, j) for i in range(len(words)) for j in range(i + 1, len(words)) if words[i] != words[j]]
    if kind in ("relation", "adj_swap") and pairs:
        i, j = rng.choice(pairs)
        words[i], words[j] = words[j], words[i]
    else:
        i = rng.randrange(len(words))
        pool = {"adj": ADJECTIVES, "verb": VERBS}.get(kind, NOUNS)
        words[i] = rng.choice([w for w in pool if w != words[i]])
    return " ".join(words) + "."


def synthetic_batch(batch: int, seed: int):
    """``(captions, negatives, mask rows)``: COCO-like captions and their K=5 negatives (see module doc)."""
    rng = random.Random(seed)
    lengths, weights = zip(*CAPTION_WORDS.items())
    captions, negatives, mask = [], [], []
    for _ in range(batch):
        text = caption(rng, rng.choices(lengths, weights)[0])
        valid = [rng.random() < VALID_RATES[t] for t in TYPES]
        captions.append(text)
        negatives.append([negative_of(rng, text, t) if ok else "###" for t, ok in zip(TYPES, valid)])
        mask.append(valid)
    return captions, negatives, mask


# ----------------------------------------------------------------------------- GPU machine


def install_stand_ins() -> list[str]:
    """Empty stand-ins for modules that ``import lavis`` pulls in but a CLIP step never calls.

    For the lent GPU machine only (``--stand-ins``), whose wheels leave them out for size:
    pycocoevalcap (captioning scorer, 104 MB), spacy (img2prompt VQA), decord (video reader). A
    module that imports for real is left alone. Calling anything in a stand-in raises.
    """
    import importlib.machinery
    import importlib.util

    def unavailable(*args, **kwargs):
        raise ImportError("stand-in module (perf/step.py --stand-ins): not installed on this machine")

    specs = {
        "pycocoevalcap": {}, "pycocoevalcap.eval": {"COCOEvalCap": unavailable},
        "spacy": {"load": unavailable}, "decord": {"VideoReader": unavailable, "cpu": unavailable},
        "decord.bridge": {"set_bridge": lambda *a, **k: None},
    }
    installed = []
    for name, attrs in specs.items():
        top = name.split(".")[0]
        if top not in installed and importlib.util.find_spec(top) is not None:
            continue
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        module.__path__ = []  # a package, so that submodule stand-ins import
        module.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)  # find_spec() callers
        sys.modules[name] = module
        if "." in name:
            setattr(sys.modules[name.rsplit(".", 1)[0]], name.rsplit(".", 1)[1], module)
        installed.append(name)
    return installed


# ----------------------------------------------------------------------------- variants


class Variant:
    """A model, its optimiser, and a closure running one training step's forward."""

    def __init__(self, name, module, forward, optimizer, resident_modules):
        self.name, self.module, self.forward, self.optimizer = name, module, forward, optimizer
        self.resident_modules = resident_modules
        self.times: list[float] = []
        self.peak_bytes: int | None = None
        self.components: dict = {}


def resident_bytes(variant: Variant) -> int:
    """Bytes a variant keeps between steps: parameters, buffers, optimiser state (grads are freed)."""
    import torch

    seen, total = set(), 0
    tensors = [t for m in variant.resident_modules for t in list(m.parameters()) + list(m.buffers())]
    for state in variant.optimizer.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v)]
    for t in tensors:
        if t.device.type == "cuda" and t.data_ptr() not in seen:
            seen.add(t.data_ptr())
            total += t.numel() * t.element_size()
    return total


def build_variants(names, model_type, quick_gelu, device, seed, samples, fused):
    """``{name: Variant}`` sharing one set of initial weights."""
    import torch
    from lavis.models.clip_models.loss import ClipLoss
    from omegaconf import OmegaConf

    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.models.clip.weights import new_clip
    from ahnpl_plugin.models.param_groups import weight_decay_groups
    from ahnpl_plugin.models.clip.tokenizer import tokenize

    def config(**overrides):
        cfg = OmegaConf.load(AHNPLClip.default_config_path(model_type)).model
        cfg.pretrained, cfg.quick_gelu = "", quick_gelu
        for key, value in overrides.items():
            OmegaConf.update(cfg, key, value, force_add=True)
        return cfg

    def optimizer_for(module):
        groups = weight_decay_groups(module.named_parameters(), 0.1)
        return torch.optim.AdamW(groups, lr=2e-5, betas=(0.9, 0.98), eps=1e-6, **({"fused": True} if fused else {}))

    torch.manual_seed(seed)
    reference_weights = AHNPLClip.from_config(config()).state_dict()
    variants = {}
    for name in names:
        if name == "a":
            clip = new_clip(model_type, quick_gelu)
            clip.load_state_dict({k[len("clip."):]: v for k, v in reference_weights.items() if k.startswith("clip.")})
            clip._loss = ClipLoss(world_size=1, rank=0)  # what CLIP.loss builds, minus the process group
            clip.tokenizer = functools.partial(tokenize, context_length=clip.context_length)  # same ids, cached
            clip = clip.to(device).train()
            pairs = {"image": samples["image"], "text_input": samples["text_input"]}

            def forward(clip=clip, pairs=pairs):
                out = clip(pairs)
                with torch.no_grad():
                    clip.logit_scale.clamp_(0, math.log(100))
                return {"loss": out.loss}

            variants[name] = Variant(name, clip, forward, optimizer_for(clip), [clip])
            continue
        overrides = {
            "b": {"sdpa": False, "text_length": "full", "loss.mode": "reference"},
            "c": {}, "c-compile": {}, "c-all-neg": {},
            "c-longest": {"text_length": "longest"},
            "c-mha": {"sdpa": False},
        }[name]
        model = AHNPLClip.from_config(config(**overrides))
        model.load_state_dict(reference_weights)
        model = model.to(device).train()
        if name == "c-all-neg":
            model.encode_all_negatives = True
        if name == "c-compile":
            model.compile_towers()
        variants[name] = Variant(name, model, functools.partial(model, samples), optimizer_for(model), [model])
    return variants


def run_step(variant: Variant, autocast, scaler, device) -> float:
    """One timed training step (seconds), as ahnpl_runner runs it."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    with autocast():
        out = variant.forward()
    # ahnpl_runner reads every component back to the host each step (a device sync on GPUs)
    variant.components = {k: float(v.detach()) for k, v in out.items() if torch.is_tensor(v) and v.numel() == 1}
    loss = out["loss"]
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(variant.optimizer)
        scaler.update()
    else:
        loss.backward()
        variant.optimizer.step()
    variant.optimizer.zero_grad(set_to_none=True)
    if hasattr(variant.module, "clamp_logit_scale"):
        variant.module.clamp_logit_scale()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def cold_tokenize_ms(texts: list[str], context_length: int) -> float:
    """Milliseconds LAVIS's (uncached) tokenizer takes for ``texts`` on this process's one core."""
    from lavis.models.clip_models.tokenizer import tokenize as lavis_tokenize

    start = time.perf_counter()
    lavis_tokenize(texts, context_length=context_length)
    return 1e3 * (time.perf_counter() - start)


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default=None, help="default: cuda if available")
    parser.add_argument("--model-type", default=None, help="ahnpl_clip model type (default: ViT-B-32 on cuda, tiny on cpu)")
    parser.add_argument("--batch", type=int, default=None, help="pairs per step (default: 256 on cuda, 64 on cpu)")
    parser.add_argument("--variants", default="a,b,c", help=f"comma-separated, from {', '.join(VARIANTS)}")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps per variant (default: 5 cuda, 1 cpu)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per variant per round (default: 10 cuda, 1 cpu)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default: 3 cuda, 8 cpu)")
    parser.add_argument("--amp", choices=("auto", "bf16", "fp16", "none"), default="auto",
                        help="autocast dtype (auto: bf16 on GPUs that support it, else fp16; none on cpu)")
    parser.add_argument("--quick-gelu", choices=("auto", "true", "false"), default="auto",
                        help="activation (auto: QuickGELU for the OpenAI types, as their weights need)")
    parser.add_argument("--fused-adamw", choices=("auto", "true", "false"), default="auto",
                        help="fused AdamW (auto: on CUDA only, as ahnpl_runner)")
    parser.add_argument("--channels-last", action="store_true", help="channels-last images and weights (as run.channels_last)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and batch (default 0)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--stand-ins", action="store_true", help="stand-in modules for LAVIS imports a CLIP step never uses (GPU machine)")
    args = parser.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; valid: {', '.join(VARIANTS)}")
    return args


def resolve_defaults(args):
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device visible")
    gpu = args.device == "cuda"
    args.model_type = args.model_type or ("ViT-B-32" if gpu else "tiny")
    args.batch = args.batch or (256 if gpu else 64)
    if args.warmup is None:
        args.warmup = 5 if gpu else 1
    args.steps = args.steps or (10 if gpu else 1)
    args.rounds = args.rounds or (3 if gpu else 8)
    if args.amp == "auto":
        args.amp = ("bf16" if torch.cuda.is_bf16_supported() else "fp16") if gpu else "none"
    if args.amp == "fp16" and not gpu:
        raise SystemExit("--amp fp16 needs cuda (use bf16 or none on cpu)")
    return args


def machine_info(device) -> dict:
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "cpu_threads": torch.get_num_threads(),
            "platform": platform.platform()}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    else:
        info["cpu"] = platform.processor() or platform.machine()
        try:
            info["load_average"] = os.getloadavg()
        except OSError:
            pass
    return info


def measure(args) -> dict:
    """Build the variants, run the interleaved rounds, return the results dict."""
    import contextlib

    import torch

    device = torch.device(args.device)
    from ahnpl_plugin import compat

    compat.apply()
    from ahnpl_plugin.models.clip.architectures import OPENAI_TYPES, architecture, context_length, image_size

    arch = architecture(args.model_type)
    quick_gelu = args.model_type in OPENAI_TYPES if args.quick_gelu == "auto" else args.quick_gelu == "true"
    captions, negatives, mask_rows = synthetic_batch(args.batch, args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    size = image_size(arch)
    images = torch.randn(args.batch, 3, size, size, generator=generator).to(device)
    if args.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    # On the device, as ahnpl_runner's _to_device leaves every tensor of a batch.
    samples = {"image": images, "text_input": captions, "hard_negatives": negatives,
               "hard_negative_mask": torch.tensor(mask_rows, dtype=torch.bool).to(device)}
    names = args.variants.split(",")
    # ahnpl_runner today: run.fused_adamw (default true) on CUDA only
    fused = device.type == "cuda" if args.fused_adamw == "auto" else args.fused_adamw == "true"
    variants = build_variants(names, args.model_type, quick_gelu, device, args.seed, samples, fused)
    if args.channels_last:
        for variant in variants.values():
            variant.module.to(memory_format=torch.channels_last)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "none": None}[args.amp]
    autocast = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
    scalers = {n: (torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None) for n in names}

    for name in names:  # warmup: allocator, kernels autotuning, token cache, compilation
        for _ in range(args.warmup):
            run_step(variants[name], autocast, scalers[name], device)
    for round_index in range(args.rounds):
        for name in names:
            variant = variants[name]
            if device.type == "cuda" and round_index == 0:
                others = sum(resident_bytes(v) for n, v in variants.items() if n != name)
                torch.cuda.reset_peak_memory_stats(device)
            for _ in range(args.steps):
                variant.times.append(run_step(variant, autocast, scalers[name], device))
            if device.type == "cuda" and round_index == 0:
                variant.peak_bytes = torch.cuda.max_memory_allocated(device) - others

    ctx = context_length(arch)
    from ahnpl_plugin.models.clip.tokenizer import tokenize
    from ahnpl_plugin.models.clip.towers import pooled_positions

    valid_texts = captions + [t for row, m in zip(negatives, mask_rows) for t, ok in zip(row, m) if ok]
    lengths = (pooled_positions(tokenize(valid_texts, ctx)) + 1).tolist()
    results = {}
    for name, variant in variants.items():
        median = statistics.median(variant.times)
        results[name] = {
            "what": VARIANTS[name],
            "step_ms_median": 1e3 * median,
            "step_ms_min": 1e3 * min(variant.times),
            "step_ms_max": 1e3 * max(variant.times),
            "steps_timed": len(variant.times),
            "pairs_per_s": args.batch / median,
            "peak_gib": None if variant.peak_bytes is None else variant.peak_bytes / 2**30,
            "loss": variant.components.get("loss"),
        }
    for name, row in results.items():
        for base in ("a", "b"):
            if base in results:
                row[f"vs_{base}"] = row["pairs_per_s"] / results[base]["pairs_per_s"]
    all_texts = captions + [t for row in negatives for t in row]
    return {
        "machine": machine_info(device),
        "config": {
            "device": args.device, "model_type": args.model_type, "batch": args.batch, "amp": args.amp,
            "quick_gelu": quick_gelu, "fused_adamw": fused, "channels_last": args.channels_last,
            "warmup": args.warmup, "steps_per_round": args.steps, "rounds": args.rounds, "seed": args.seed,
            "context_length": ctx, "valid_negatives": sum(map(sum, mask_rows)), "negatives": len(TYPES) * args.batch,
            "text_tokens_mean": statistics.mean(lengths), "text_tokens_max": max(lengths),
            "tokenize_cold_ms": {"a": cold_tokenize_ms(captions, ctx), "b": cold_tokenize_ms(all_texts, ctx),
                                 "c": cold_tokenize_ms(valid_texts, ctx)},
        },
        "results": results,
    }


def markdown_table(report: dict) -> str:
    cfg, machine = report["config"], report["machine"]
    where = machine.get("gpu") or f"CPU ({machine.get('cpu')}, {machine['cpu_threads']} threads)"
    lines = [
        f"{cfg['model_type']}, batch {cfg['batch']}, amp {cfg['amp']}, {where}, torch {machine['torch']}; "
        f"{cfg['valid_negatives']}/{cfg['negatives']} negatives valid; valid texts "
        f"{cfg['text_tokens_mean']:.1f} tokens on average, longest {cfg['text_tokens_max']} (context {cfg['context_length']}); "
        f"median of {cfg['rounds']} x {cfg['steps_per_round']} steps after {cfg['warmup']} warmup",
        "",
        "| variant | step ms (median) | best | pairs/s | vs a | vs b | peak GiB | what |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, row in report["results"].items():
        ratio = lambda key: f"{row[key]:.2f}x" if key in row else "-"  # noqa: E731
        peak = "-" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
        lines.append(f"| {name} | {row['step_ms_median']:.1f} | {row['step_ms_min']:.1f} | {row['pairs_per_s']:.0f} | {ratio('vs_a')} | "
                     f"{ratio('vs_b')} | {peak} | {row['what']} |")
    cold = cfg["tokenize_cold_ms"]
    lines += ["", f"cold tokenisation (LAVIS tokenizer, one core, not in the step times): a {cold['a']:.0f} ms, "
                  f"b {cold['b']:.0f} ms, c {cold['c']:.0f} ms per step"]
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.stand_ins:
        print("stand-ins:", ", ".join(install_stand_ins()) or "none needed", file=sys.stderr)
    args = resolve_defaults(args)
    report = measure(args)
    print(markdown_table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
