"""Can each tiny image tower learn the world's facts when told them? (issue 20, item 5)

Supervised probe: the tower ([CLS] feature) + one linear head per fact (subject shape, object
shape, subject colour, relation), cross-entropy, 600 steps of batch 64, lr 1e-3 AdamW, one thread;
records 0-4999 train, 5000-5999 held out. README "BLIP on the world" has the results.

    python quality/blip_world/vision_probe.py WORLD_DIR blip|clip
"""
import json, sys, time
import numpy as np, torch
from PIL import Image
from omegaconf import OmegaConf
torch.set_num_threads(1); torch.manual_seed(0)
from ahnpl_plugin import register; register()
from lavis.common.registry import registry
W = sys.argv[1]
recs = json.load(open(f"{W}/train.json"))[:6000]
keys = {"s_shape": lambda r: r["description"]["subject"]["shape"], "o_shape": lambda r: r["description"]["object"]["shape"],
        "s_colour": lambda r: r["description"]["subject"]["colour"], "relation": lambda r: r["description"]["relation"]}
vocab = {k: sorted({f(r) for r in recs}) for k, f in keys.items()}
Y = torch.tensor([[vocab[k].index(f(r)) for k, f in keys.items()] for r in recs])
mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3,1,1); std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3,1,1)
X = torch.stack([(torch.from_numpy(np.array(Image.open(f"{W}/images/{r['image']}").convert("RGB"))).permute(2,0,1).float()/255 - mean)/std for r in recs])
which = sys.argv[2]
if which == "blip":
    cls = registry.get_model_class("ahnpl_blip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    tower = m.visual_encoder; width = 64
    enc = lambda x: tower(x)[:, 0, :]
else:
    cls = registry.get_model_class("ahnpl_clip"); m = cls.from_config(OmegaConf.load(cls.default_config_path("tiny")).model)
    tower = m; width = 128
    enc = lambda x: m.encode_image(x)
heads = torch.nn.ModuleList([torch.nn.Linear(width, len(vocab[k])) for k in keys])
params = list(tower.parameters()) + list(heads.parameters())
opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05)
tr, te = slice(0, 5000), slice(5000, 6000)
t0 = time.time()
for step in range(600):
    idx = torch.randint(0, 5000, (64,))
    f = enc(X[idx])
    loss = sum(torch.nn.functional.cross_entropy(h(f), Y[idx, j]) for j, h in enumerate(heads))
    opt.zero_grad(); loss.backward(); opt.step()
    if step % 200 == 199:
        with torch.no_grad():
            f = enc(X[te]); acc = [(h(f).argmax(1) == Y[te, j]).float().mean().item() for j, h in enumerate(heads)]
        print(which, step + 1, f"loss {loss.item():.3f}", dict(zip(keys, [round(a * 100, 1) for a in acc])), f"{time.time()-t0:.0f}s", flush=True)
