"""Can each tiny text tower read word order? (issue 20, item 5)

Supervised probe: the tower ([CLS] for BLIP, end-of-text for CLIP, through its projection) + one
linear head per fact (subject colour, object colour, subject shape, relation), 400 steps of batch
64, lr 1e-3 AdamW, one thread; records 0-6999 train, 7000-7999 held out.

    python quality/blip_world/text_probe.py WORLD_DIR blip|clip
"""
import json, sys, time
import torch, torch.nn.functional as F
from omegaconf import OmegaConf
torch.set_num_threads(1); torch.manual_seed(0)
from ahnpl_plugin import register; register()
from lavis.common.registry import registry
W = sys.argv[1]
recs = json.load(open(f"{W}/train.json"))[:8000]
keys = {"s_colour": lambda r: r["description"]["subject"]["colour"], "o_colour": lambda r: r["description"]["object"]["colour"],
        "s_shape": lambda r: r["description"]["subject"]["shape"], "relation": lambda r: r["description"]["relation"]}
vocab = {k: sorted({f(r) for r in recs}) for k, f in keys.items()}
Y = torch.tensor([[vocab[k].index(f(r)) for k, f in keys.items()] for r in recs])
which = sys.argv[2]
if which == "blip":
    cls = registry.get_model_class("ahnpl_blip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    def txt(t):
        tok = m.tokenizer(t, padding="longest", truncation=True, max_length=35, return_tensors="pt")
        return m.text_proj(m.text_encoder(tok.input_ids, attention_mask=tok.attention_mask, return_dict=True, mode="text").last_hidden_state[:, 0, :])
    params = list(m.text_encoder.parameters()) + list(m.text_proj.parameters()); width = 64
else:
    cls = registry.get_model_class("ahnpl_clip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    def txt(t): return m.encode_text(m.tokenize(t))
    params = [p for n, p in m.named_parameters() if "logit_scale" not in n]; width = 128
heads = torch.nn.ModuleList([torch.nn.Linear(width, len(vocab[k])) for k in keys])
opt = torch.optim.AdamW(params + list(heads.parameters()), lr=1e-3, weight_decay=0.05)
t0 = time.time()
for step in range(400):
    idx = torch.randint(0, 7000, (64,))
    f = txt([recs[i]["caption"] for i in idx.tolist()])
    loss = sum(F.cross_entropy(h(f), Y[idx, j]) for j, h in enumerate(heads))
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 100 == 99:
        with torch.no_grad():
            f = txt([r["caption"] for r in recs[7000:8000]]); acc = [(h(f).argmax(1) == Y[7000:8000, j]).float().mean().item() for j, h in enumerate(heads)]
        print(which, step + 1, f"loss {loss.item():.3f}", dict(zip(keys, [round(a * 100, 1) for a in acc])), f"{time.time()-t0:.0f}s", flush=True)
