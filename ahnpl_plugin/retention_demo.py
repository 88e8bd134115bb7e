"""Retention experiment on the synthetic world: what each remedy keeps of zero-shot accuracy while
AHNPL fine-tuning adds compositional accuracy. A functional demonstration on a tiny CLIP, not
evidence about real models.

    python -m ahnpl_plugin.retention_demo --out output/retention          # the README's run
    python -m ahnpl_plugin.retention_demo --out output/retention_small --pretrain-steps 100 --finetune-steps 40

1. Pre-train (plain CLIP loss) a randomly initialised tiny CLIP on *single-object* images of the
   world's 8 colours x 5 shapes, captions from templates ("a red circle", "a photo of a red
   circle", "a large red circle"). Its zero-shot task: classify fresh single-object images into
   the 40 colour-shape classes with prompts it never trained on ("a picture of a {colour}
   {shape}", averaged with "a {colour} {shape}"), as CLIP's zero-shot evaluation does.
2. Fine-tune that start with AHNPL on the *two-object* compositional world (captions with
   relations, hard negatives), once per method, same data order and step count. The fine-tuning
   world uses 5 of the 8 colours: like COCO against ImageNet's classes, the fine-tuning data
   covers part of what the zero-shot task asks, so forgetting the rest can show.
3. Report, per method, the held-out compositional accuracy (the world's test items: every test
   scene has a colour-shape pair never seen in fine-tuning) and the zero-shot accuracy, and the
   same for WiSE-FT points of the full fine-tuning run (exported through
   :func:`ahnpl_plugin.wise.wise_checkpoint`, i.e. from the checkpoint's own start record).

Everything runs in this process on one thread (``torch.set_num_threads(1)``); the table
(``retention.md``), the numbers (``retention.json``) and the plot (``retention.png``) go to
``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from ahnpl_plugin.data.jsonio import read_json

COLOURS = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "white")
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
FINETUNE_COLOURS = COLOURS[:5]  # orange, cyan and white appear in pre-training and zero-shot only
PRETRAIN_TEMPLATES = ("a {colour} {shape}", "a photo of a {colour} {shape}", "a {size} {colour} {shape}")
ZERO_SHOT_TEMPLATES = ("a picture of a {colour} {shape}", "a {colour} {shape}")
MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)  # CLIP's normalisation
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

# name -> (model options added to the start config, learning-rate factor, step factor, note)
METHODS = {
    "full FT": ({}, 1.0, 1.0, "published recipe shape: all weights, full lr"),
    "lower lr (x0.2)": ({}, 0.2, 1.0, "cheap baseline: train less"),
    "fewer steps (x0.5)": ({}, 1.0, 0.5, "cheap baseline: train less"),
    "LoRA r4 (lr x10)": ({"finetune": "lora", "lora": {"rank": 4, "alpha": 4.0}}, 10.0, 1.0, "FSC-CLIP placement"),
    "text tower only": ({"finetune": "text"}, 1.0, 1.0, "as CLIC"),
    "distill cos (w=1)": ({"distill": {"weight": 1.0, "kind": "cosine"}}, 1.0, 1.0, "frozen teacher"),
    "distill EMA (w=1)": ({"distill": {"weight": 1.0, "kind": "cosine", "ema": 0.99}}, 1.0, 1.0, "EMA teacher 0.99"),
    "L2-SP (1e-3)": ({"l2sp": 1e-3}, 1.0, 1.0, ""),
    "focal+LS on L_hn": ({"loss": {"hn_focal_gamma": 2.0, "hn_label_smoothing": 0.02}}, 1.0, 1.0, "FSC-CLIP gamma 2, LS 0.02"),
}
WISE_ALPHAS = (0.25, 0.5, 0.75)


def _pixels(image) -> np.ndarray:
    return ((np.asarray(image, dtype=np.float32) / 255.0 - MEAN) / STD).transpose(2, 0, 1)


def single_objects(n: int, seed: int, image_size: int = 32):
    """``(images [n,3,H,W], colours, shapes, sizes)`` of random single-object images."""
    from ahnpl_plugin.synthetic.render import render_things
    from ahnpl_plugin.synthetic.sampling import thing_diameter
    from ahnpl_plugin.synthetic.scenes import Thing

    rng = np.random.default_rng(seed)
    images, colours, shapes, sizes = [], [], [], []
    for _ in range(n):
        colour, shape = COLOURS[rng.integers(len(COLOURS))], SHAPES[rng.integers(len(SHAPES))]
        size = ("small", "large")[rng.integers(2)]
        side = thing_diameter(size, image_size)
        x0, y0 = (int(v) for v in rng.integers(0, image_size - side + 1, size=2))
        images.append(_pixels(render_things([Thing(size, colour, shape, (x0, y0, x0 + side, y0 + side))], image_size)))
        colours.append(colour)
        shapes.append(shape)
        sizes.append(size)
    return torch.from_numpy(np.stack(images)), colours, shapes, sizes


def _load_images(paths, root: Path) -> torch.Tensor:
    from PIL import Image

    return torch.from_numpy(np.stack([_pixels(Image.open(root / p).convert("RGB")) for p in paths]))


def _lr(step: int, total: int, peak: float, warmup: int = 20) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def train_steps(model, batches, peak_lr: float) -> float:
    """AdamW (weight decay 0.1 on matrices) with warmup + cosine over ``batches``; seconds per step."""
    optimizer = torch.optim.AdamW(model.get_optimizer_params(0.1), lr=peak_lr, betas=(0.9, 0.98), eps=1e-6)
    model.train()
    start = time.perf_counter()
    for step, samples in enumerate(batches):
        for group in optimizer.param_groups:
            group["lr"] = _lr(step, len(batches), peak_lr)
        loss = model(samples)["loss"]
        if not torch.isfinite(loss):
            raise RuntimeError(f"non-finite loss at step {step}")
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.clamp_logit_scale()
        model.on_optimizer_step()
    return (time.perf_counter() - start) / max(1, len(batches))


@torch.no_grad()
def zero_shot_accuracy(model, images: torch.Tensor, colours, shapes) -> float:
    """40-way colour-shape classification with the held-out prompt templates (averaged embeddings)."""
    model.eval()
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    prompts = torch.stack([
        model.encode_text([t.format(colour=c, shape=s) for c, s in classes]) for t in ZERO_SHOT_TEMPLATES
    ]).mean(0)
    prompts = torch.nn.functional.normalize(prompts, dim=-1)
    predicted = (model.encode_image(images) @ prompts.T).argmax(1)
    truth = torch.tensor([classes.index((c, s)) for c, s in zip(colours, shapes)])
    return float((predicted == truth).float().mean())


@torch.no_grad()
def compositional_accuracy(model, items, images: dict) -> float:
    """Mean over categories of the world's held-out test items (true caption strictly best)."""
    from ahnpl_plugin.synthetic.scoring import score_items

    model.eval()
    keys = list(images)
    features = dict(zip(keys, model.encode_image(torch.stack([images[k] for k in keys]))))
    sims = [(features[item["images"][0]] @ model.encode_text(item["captions"]).T).unsqueeze(0).numpy() for item in items]
    return score_items(items, sims)["average"]


def _world_batches(records, images: torch.Tensor, steps: int, batch: int, seed: int):
    from ahnpl_plugin.contract import AHNPL_TYPES, negative_columns

    rng = np.random.default_rng(seed)
    order = np.concatenate([rng.permutation(len(records)) for _ in range(steps * batch // len(records) + 1)])
    batches = []
    for step in range(steps):
        rows = order[step * batch:(step + 1) * batch]
        columns = [negative_columns(records[i], AHNPL_TYPES) for i in rows]
        batches.append({
            "image": images[torch.from_numpy(rows)],
            "text_input": [records[i]["caption"] for i in rows],
            "hard_negatives": [texts for texts, _ in columns],
            "hard_negative_mask": torch.tensor([mask for _, mask in columns]),
        })
    return batches


def _pretrain_batches(steps: int, batch: int, seed: int):
    images, colours, shapes, sizes = single_objects(steps * batch, seed)
    rng = np.random.default_rng(seed + 1)
    batches = []
    for step in range(steps):
        rows = range(step * batch, (step + 1) * batch)
        captions = [PRETRAIN_TEMPLATES[rng.integers(len(PRETRAIN_TEMPLATES))].format(
            colour=colours[i], shape=shapes[i], size=sizes[i]) for i in rows]
        batches.append({"image": images[step * batch:(step + 1) * batch], "text_input": captions})
    return batches


def _model(config: dict):
    from ahnpl_plugin.models.clip.model import AHNPLClip

    if config.get("pretrained"):  # start.pt is a plain state dict of the tiny model, which runs nn.GELU
        config = {"act": "gelu", **config}
    return AHNPLClip.from_config({"arch": "ahnpl_clip", "model_type": "tiny", **config})


def run(out: Path, pretrain_steps: int, finetune_steps: int, batch: int, lr: float, pretrain_lr: float,
        n_train: int, n_test: int, n_zero_shot: int, methods=None, seed: int = 0, start: str | None = None) -> list[dict]:
    from tqdm.auto import tqdm

    from ahnpl_plugin import compat

    compat.apply()
    from ahnpl_plugin.synthetic.world import build_world
    from ahnpl_plugin.wise import wise_checkpoint

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    world = build_world(".cache/ahnpl_retention_world", seed=seed, image_size=32, n_train=n_train, n_val=0,
                        n_test=n_test, colours=FINETUNE_COLOURS, shapes=SHAPES)
    records, items = read_json(world.train), read_json(world.test)
    train_images = _load_images([r["image"] for r in records], world.images_dir)
    test_images = {p: img for p, img in zip(sorted({i["images"][0] for i in items}), _load_images(
        sorted({i["images"][0] for i in items}), world.images_dir))}
    zs_images, zs_colours, zs_shapes, _ = single_objects(n_zero_shot, seed + 1000)

    def evaluate(model) -> dict:
        return {"compositional": compositional_accuracy(model, items, test_images),
                "zero_shot": zero_shot_accuracy(model, zs_images, zs_colours, zs_shapes)}

    start_file = out / "start.pt"
    if start:  # the start of an earlier run with the same pre-training settings (saves its minutes)
        start_model = _model({"pretrained": start, "loss": {"negative_types": []}})
        pre_seconds = None
        print(f"start: pre-trained weights from {start}", flush=True)
    else:
        print(f"pre-training the start on single objects ({pretrain_steps} steps) ...", flush=True)
        torch.manual_seed(seed)
        start_model = _model({"pretrained": "", "loss": {"negative_types": []}})
        pre_seconds = train_steps(start_model, _pretrain_batches(pretrain_steps, batch, seed), pretrain_lr)
    torch.save(start_model.clip.state_dict(), start_file)
    rows = [{"name": "start (pre-trained)", "series": "start", "kind": "start", "note": "before fine-tuning",
             **evaluate(start_model)}]
    print(f"start: {rows[0]}", flush=True)
    batches = _world_batches(records, train_images, finetune_steps, batch, seed)
    timings = {"pretrain_s_per_step": pre_seconds}
    for name, (options, lr_factor, step_factor, note) in tqdm(list((methods or METHODS).items()), desc="methods"):
        torch.manual_seed(seed)
        config = {"pretrained": str(start_file), **options}
        model = _model(config)
        try:
            seconds = train_steps(model, batches[: max(1, int(finetune_steps * step_factor))], lr * lr_factor)
        except RuntimeError as exc:  # a diverged method is a result too: reported, the others still run
            print(f"{name}: {exc}", flush=True)
            rows.append({"name": name, "series": name, "note": f"diverged ({exc})", "compositional": float("nan"),
                         "zero_shot": float("nan")})
            continue
        timings[name] = seconds
        row = {"name": name, "series": name, "kind": "fine-tuned" if name == "full FT" else "", "note": note,
               "s_per_step": seconds, **evaluate(model)}
        rows.append(row)
        print(f"{name}: compositional {row['compositional']:.3f}, zero-shot {row['zero_shot']:.3f}, "
              f"{seconds:.3f} s/step", flush=True)
        if name == "full FT":
            checkpoint = out / "full_ft.pth"
            torch.save({"model": model.state_dict(), "config": {"model": {"arch": "ahnpl_clip", "model_type": "tiny", **config}},
                        "start_weights": model.start_weights}, checkpoint)
            for alpha in WISE_ALPHAS:
                plain = _model({"pretrained": str(start_file)})
                plain.load_state_dict(wise_checkpoint(str(checkpoint), alpha)["model"], strict=True)
                rows.append({"name": f"WiSE-FT alpha {alpha:g}", "series": "WiSE-FT of full FT", "label": f"{alpha:g}",
                             "note": "weight mix, no training", **evaluate(plain)})
                print(f"WiSE {alpha:g}: {rows[-1]}", flush=True)
    for row in rows:
        row["retained"] = row["zero_shot"] / rows[0]["zero_shot"] if rows[0]["zero_shot"] else float("nan")
    meta = {"pretrain_steps": pretrain_steps, "finetune_steps": finetune_steps, "batch": batch, "lr": lr,
            "pretrain_lr": pretrain_lr, "n_train": n_train, "n_test_scenes": n_test, "n_zero_shot": n_zero_shot,
            "seed": seed, "threads": 1, "start_reused_from": start, "wall_s": time.perf_counter() - clock, "timings": timings}
    table = write_outputs(rows, meta, out)
    print(table)
    print(f"wall time {meta['wall_s']:.0f} s; outputs in {out}")
    return rows


def write_outputs(rows: list[dict], meta: dict, out: Path) -> str:
    """``retention.json``, ``retention.md`` and ``retention.png`` (the WiSE-FT curve drawn from the
    start, alpha 0, to full fine-tuning, alpha 1); returns the table."""
    from ahnpl_plugin.wise import plot_tradeoff, tradeoff_table

    (out / "retention.json").write_text(json.dumps({"rows": rows, "meta": meta}, indent=2))
    table = tradeoff_table(rows, x_label="zero-shot 40-way", y_label="held-out compositional")
    (out / "retention.md").write_text(table + "\n")
    wise = [r for r in rows if r.get("series") == "WiSE-FT of full FT"]
    ends = {r["kind"]: r for r in rows if r.get("kind") in ("start", "fine-tuned")}
    if wise and len(ends) == 2:
        curve = [{**ends["start"], "label": "0"}] + sorted(wise, key=lambda r: float(r["label"])) + [{**ends["fine-tuned"], "label": "1"}]
        wise = [{**r, "series": "WiSE-FT of full FT (alpha)", "kind": ""} for r in curve]
    plotted = [r for r in rows if r.get("series") != "WiSE-FT of full FT"] + wise
    plot_tradeoff(plotted, out / "retention.png",
                  f"synthetic world, tiny CLIP: {meta['finetune_steps']} AHNPL steps "
                  f"after {meta['pretrain_steps']} pre-training steps", x_label="zero-shot 40-way accuracy (%)")
    return table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="output/retention")
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="fine-tuning peak lr (methods scale it)")
    parser.add_argument("--pretrain-lr", type=float, default=1e-3)
    parser.add_argument("--n-train", type=int, default=3000, help="two-object training images of the world")
    parser.add_argument("--n-test", type=int, default=300, help="held-out test scenes (up to 5 items each)")
    parser.add_argument("--n-zero-shot", type=int, default=400, help="single-object zero-shot test images")
    parser.add_argument("--methods", nargs="*", default=None, help=f"subset of: {', '.join(METHODS)}")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default=None,
                        help="skip pre-training: start.pt of an earlier run with the same --pretrain-* settings")
    args = parser.parse_args(argv)
    methods = None
    if args.methods:
        unknown = [m for m in args.methods if m not in METHODS]
        if unknown:
            parser.error(f"unknown methods {unknown}; valid: {list(METHODS)}")
        methods = {m: METHODS[m] for m in args.methods}
    run(Path(args.out), args.pretrain_steps, args.finetune_steps, args.batch, args.lr, args.pretrain_lr,
        args.n_train, args.n_test, args.n_zero_shot, methods, args.seed, args.start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
