"""Why does the tiny BLIP not learn the synthetic world's swaps? A controlled probe (issue 20, item 5).

Trains pairs of *tiny* towers with one plain objective, CLIP's in-batch InfoNCE with a learned
temperature (optionally NegCLIP-style: each caption's valid hard negatives join the text side,
``hn``), on the demo world's training records, and reports held-out accuracy of the true caption over
each negative type (relation = subject/object swap, adj_swap = attribute swap, adj = attribute
replace, noun = object replace, verb = relation replace). No queue, momentum encoder, ITM or
distillation: only the towers differ.

    towers: clip (tiny CLIP's two towers) | blip (tiny BLIP's ViT + BERT) | blip128 (BLIP at CLIP's
            width) | hybrid_clipvis (CLIP's image tower + BLIP's text tower) | hybrid_blipvis
    python quality/blip_world/tower_probe.py WORLD_DIR TOWERS STEPS [hn]

WORLD_DIR: the demo world's folder (``make demo`` builds it under
``~/.cache/ahnpl/synthetic_world/<hash>/``: train.json and images/). One torch thread, batch 64,
lr 1e-3 AdamW one-cycle, records 0-6999 for training and 7000-7999 held out. Results of
2026-12-06 are in the README (section "BLIP on the world").
"""
import json, sys, time
import numpy as np, torch, torch.nn.functional as F
from PIL import Image
from omegaconf import OmegaConf
torch.set_num_threads(1); torch.manual_seed(0)
from ahnpl_plugin import register; register()
from lavis.common.registry import registry
W = sys.argv[1]
recs = json.load(open(f"{W}/train.json"))[:8000]
mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3,1,1); std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3,1,1)
X = torch.stack([(torch.from_numpy(np.array(Image.open(f"{W}/images/{r['image']}").convert("RGB"))).permute(2,0,1).float()/255 - mean)/std for r in recs])
which, steps = sys.argv[2], int(sys.argv[3])
HN = len(sys.argv) > 4 and sys.argv[4] == "hn"  # NegCLIP-style: each caption's five negatives join the text side
if which == "blip128":
    import ahnpl_plugin.models.blip.architectures as A
    A.TINY_VISION["embed_dim"] = 128; A.TINY_TEXT["hidden_size"] = 128; A.TINY_TEXT["intermediate_size"] = 512; A.TINY_EMBED_DIM = 128
    which = "blip"
if which == "blip":
    cls = registry.get_model_class("ahnpl_blip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    def img(x): return F.normalize(m.vision_proj(m.visual_encoder(x)[:, 0, :]), dim=-1)
    def txt(t):
        tok = m.tokenizer(t, padding="longest", truncation=True, max_length=35, return_tensors="pt")
        return F.normalize(m.text_proj(m.text_encoder(tok.input_ids, attention_mask=tok.attention_mask, return_dict=True, mode="text").last_hidden_state[:, 0, :]), dim=-1)
    params = [p for n, p in m.named_parameters() if n.split('.')[0] in ("visual_encoder", "text_encoder", "vision_proj", "text_proj")]
elif which in ("hybrid_clipvis", "hybrid_blipvis"):
    bc = registry.get_model_class("ahnpl_blip"); b = bc.from_config(OmegaConf.load(bc.default_config_path("tiny")).model)
    cc = registry.get_model_class("ahnpl_clip"); c = cc.from_config(OmegaConf.load(cc.default_config_path("tiny")).model)
    vis_proj = torch.nn.Linear(128, 64)
    if which == "hybrid_clipvis":  # CLIP's image tower, BLIP's text tower
        def img(x): return F.normalize(vis_proj(c.encode_image(x)), dim=-1)
        def txt(t):
            tok = b.tokenizer(t, padding="longest", truncation=True, max_length=35, return_tensors="pt")
            return F.normalize(b.text_proj(b.text_encoder(tok.input_ids, attention_mask=tok.attention_mask, return_dict=True, mode="text").last_hidden_state[:, 0, :]), dim=-1)
        params = [p for n, p in c.named_parameters() if n.startswith("visual")] + list(vis_proj.parameters()) + list(b.text_encoder.parameters()) + list(b.text_proj.parameters())
    else:  # BLIP's image tower, CLIP's text tower
        def img(x): return F.normalize(b.vision_proj(b.visual_encoder(x)[:, 0, :]), dim=-1)
        def txt(t): return F.normalize(vis_proj(c.encode_text(c.tokenize(t))), dim=-1)
        params = [p for n, p in c.named_parameters() if not n.startswith("visual") and "logit_scale" not in n] + list(vis_proj.parameters()) + list(b.visual_encoder.parameters()) + list(b.vision_proj.parameters())
else:
    cls = registry.get_model_class("ahnpl_clip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    def img(x): return F.normalize(m.encode_image(x), dim=-1)
    def txt(t): return F.normalize(m.encode_text(m.tokenize(t)), dim=-1)
    params = [p for n, p in m.named_parameters() if "logit_scale" not in n]
logt = torch.nn.Parameter(torch.tensor(np.log(1 / 0.07), dtype=torch.float32))
opt = torch.optim.AdamW(params + [logt], lr=1e-3, weight_decay=0.1)
sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps, pct_start=0.05, anneal_strategy="cos")
TYPES = ["relation", "adj_swap", "adj", "noun", "verb"]
def evaluate():
    te = recs[7000:8000]
    with torch.no_grad():
        fi = img(X[7000:8000]); fc = txt([r["caption"] for r in te]); pos = (fi * fc).sum(-1)
        out = {}
        for k, t in enumerate(TYPES):
            ok = [i for i, r in enumerate(te) if r["valid_caption"][k + 1]]
            fn = txt([te[i][f"{t}_aug_caption"] for i in ok])
            out[t] = round(((pos[ok] > (fi[ok] * fn).sum(-1)).float().mean().item()) * 100, 1)
    return out
t0 = time.time()
for step in range(steps):
    idx = torch.randint(0, 7000, (64,))
    fi = img(X[idx]); ft = txt([recs[i]["caption"] for i in idx.tolist()])
    s = logt.exp().clamp(max=100)
    logits = s * fi @ ft.t(); lab = torch.arange(64)
    if HN:
        negs = [recs[i][f"{t}_aug_caption"] for i in idx.tolist() for k, t in enumerate(TYPES) if recs[i]["valid_caption"][k + 1]]
        fn = txt(negs)
        loss = (F.cross_entropy(torch.cat([logits, s * fi @ fn.t()], 1), lab) + F.cross_entropy(logits.t(), lab)) / 2
    else:
        loss = (F.cross_entropy(logits, lab) + F.cross_entropy(logits.t(), lab)) / 2
    opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    if step % 500 == 499 or step == steps - 1:
        print(which, step + 1, f"loss {loss.item():.3f} s {s.item():.1f}", evaluate(), f"{time.time()-t0:.0f}s", flush=True)
