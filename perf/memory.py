"""Peak training memory of the AHNPL step by backbone, batch and activation checkpointing.

For each model type and batch: one warm-up and one measured training step of ``ahnpl_clip`` as
shipped (forward + backward + fused AdamW, bf16 autocast on CUDA) on perf/step.py's COCO-like
batch, with and without ``set_grad_checkpointing`` (``run.grad_checkpointing``); reports
``torch.cuda.max_memory_allocated`` of the step (weights, gradients and AdamW state included), or
"OOM". Also the forward FLOPs per image-caption pair of both towers for plain CLIP (77-token
captions, LAVIS's stock path) and AHNPL (the batch's valid texts at their bucketed lengths), from
the architecture (2 FLOPs per multiply-add; training ~3x forward, ~4x with checkpointing).

On a CPU (``--device cpu``) it measures the bytes autograd keeps for the backward (saved
tensors) instead of CUDA peaks, which is what docs/performance.md's estimate is checked against.

    python perf/memory.py --device cuda --stand-ins --json memory.json     # GPU (gpu.sh)
    python perf/memory.py --device cpu --model-types tiny --batches 16,32  # saved tensors
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "perf"))


def tower_flops(tokens: int, width: int, layers: int) -> float:
    """Forward FLOPs of ``layers`` pre-norm transformer blocks on one sequence of ``tokens``."""
    return layers * (24 * tokens * width**2 + 4 * tokens**2 * width)


def pair_flops(arch: dict, text_tokens: list[int], texts_per_pair: float, context: int) -> dict:
    """Forward GFLOPs per pair: image tower, plain CLIP's caption at the context, AHNPL's texts."""
    vision, text = arch["vision_cfg"], arch["text_cfg"]
    grid = vision["image_size"] // vision["patch_size"]
    patches = grid * grid
    image = tower_flops(patches + 1, vision["width"], vision["layers"]) + 2 * patches * 3 * vision["patch_size"] ** 2 * vision["width"]
    mean_text = sum(tower_flops(n, text["width"], text["layers"]) for n in text_tokens) / len(text_tokens)
    plain = image + tower_flops(context, text["width"], text["layers"])
    ahnpl = image + texts_per_pair * mean_text
    return {"image_gflops": image / 1e9, "plain_clip_gflops": plain / 1e9, "ahnpl_gflops": ahnpl / 1e9,
            "plain_clip_train_gflops": 3 * plain / 1e9, "ahnpl_train_gflops": 3 * ahnpl / 1e9,
            "ahnpl_train_checkpointed_gflops": 4 * ahnpl / 1e9}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model-types", default="ViT-B-32,ViT-B-16,ViT-L-14")
    parser.add_argument("--batches", default="128,256,512")
    parser.add_argument("--stand-ins", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    if args.stand_ins:
        from step import install_stand_ins

        install_stand_ins()
    import torch
    from omegaconf import OmegaConf

    from ahnpl_plugin import compat

    compat.apply()
    from step import TYPES, synthetic_batch

    from ahnpl_plugin.models.clip.model import AHNPLClip
    from ahnpl_plugin.models.clip.architectures import architecture, context_length, image_size
    from ahnpl_plugin.models.param_groups import weight_decay_groups
    from ahnpl_plugin.models.clip.towers import pooled_positions
    from ahnpl_plugin.models.clip.tokenizer import tokenize

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    rows, flops = [], {}
    for model_type in args.model_types.split(","):
        arch = architecture(model_type)
        ctx = context_length(arch)
        cfg = OmegaConf.load(AHNPLClip.default_config_path(model_type)).model
        cfg.pretrained = ""
        torch.manual_seed(0)
        model = AHNPLClip.from_config(cfg).to(device).train()
        optimizer = torch.optim.AdamW(weight_decay_groups(model.named_parameters(), 0.1), lr=1e-6,
                                      **({"fused": True} if cuda else {}))
        for batch in [int(b) for b in args.batches.split(",")]:
            captions, negatives, mask = synthetic_batch(batch, seed=1)
            valid = captions + [n for row, m in zip(negatives, mask) for n, ok in zip(row, m) if ok]
            lengths = (pooled_positions(tokenize(valid, ctx)) + 1).tolist()
            flops[model_type] = pair_flops(arch, lengths, len(valid) / batch, ctx)
            size = image_size(arch)
            samples = {"image": torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(2)).to(device),
                       "text_input": captions, "hard_negatives": negatives,
                       "hard_negative_mask": torch.tensor(mask), "hard_negative_types": TYPES}
            for checkpointing in (False, True):
                model.set_grad_checkpointing(checkpointing)
                row = {"model_type": model_type, "batch": batch, "checkpointing": checkpointing}
                try:
                    if cuda:
                        for _ in range(2):  # warm-up (AdamW state appears at the first step), measured
                            torch.cuda.synchronize()
                            torch.cuda.reset_peak_memory_stats()
                            with torch.autocast("cuda", dtype=torch.bfloat16):
                                loss = model(dict(samples))["loss"]
                            loss.backward()
                            optimizer.step()
                            optimizer.zero_grad(set_to_none=True)
                            torch.cuda.synchronize()
                        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
                    else:
                        saved = []

                        def pack(tensor):
                            saved.append(tensor.numel() * tensor.element_size())
                            return tensor

                        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                            loss = model(dict(samples))["loss"]
                        loss.backward()
                        optimizer.zero_grad(set_to_none=True)
                        row["saved_for_backward_mib"] = round(sum(saved) / 1024**2, 1)
                except torch.OutOfMemoryError:
                    row["peak_gib"] = "OOM"
                    optimizer.zero_grad(set_to_none=True)
                    if cuda:
                        torch.cuda.empty_cache()
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
        del model, optimizer
        if cuda:
            torch.cuda.empty_cache()
    out = {"rows": rows, "flops_per_pair": flops, "device": str(device),
           "gpu": torch.cuda.get_device_name() if cuda else None}
    print(json.dumps(out, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    random.seed(0)
    main()
