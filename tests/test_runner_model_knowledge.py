"""The runner asks the model side instead of knowing models: which batch keys stay on the host
(contract.HOST_KEYS) and which parameters get weight decay (models/param_groups.py)."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from omegaconf import OmegaConf
from torch import nn


class _StockModel(nn.Module):
    """Like LAVIS's stock models: no get_optimizer_params of its own."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 3)                       # weight decayed, bias not
        self.ln_final = nn.LayerNorm(3)                   # gain and bias: not
        self.token_embedding = nn.Embedding(5, 4)         # a matrix: decayed
        self.logit_scale = nn.Parameter(torch.ones([]))   # not
        self.frozen = nn.Linear(2, 2).requires_grad_(False)  # not trained: in no group


def _optimizer_of(model):
    from ahnpl_plugin.runner import AHNPLRunner

    runner = AHNPLRunner.__new__(AHNPLRunner)  # only what the optimizer property reads
    runner._optimizer, runner._wrapped_model, runner._device = None, model, torch.device("cpu")
    runner.config = SimpleNamespace(run_cfg=OmegaConf.create({"weight_decay": 0.1, "init_lr": 1e-3, "fused_adamw": False}))
    return runner.optimizer


def test_a_model_without_its_own_groups_gets_the_shared_weight_decay_rule():
    model = _StockModel()
    decayed, not_decayed = _optimizer_of(model).param_groups
    assert decayed["weight_decay"] == 0.1 and not_decayed["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(model.proj.weight), id(model.token_embedding.weight)}
    assert {id(p) for p in not_decayed["params"]} == {
        id(model.proj.bias), id(model.ln_final.weight), id(model.ln_final.bias), id(model.logit_scale)}


def test_a_model_with_its_own_groups_is_asked():
    model = _StockModel()
    model.get_optimizer_params = lambda weight_decay: [{"params": [model.logit_scale], "weight_decay": weight_decay}]
    (group,) = _optimizer_of(model).param_groups
    assert group["params"] == [model.logit_scale] and group["weight_decay"] == 0.1


def test_host_keys_are_the_models_host_side_entries():
    from ahnpl_plugin.contract import HOST_KEYS, TOKEN_KEYS
    from ahnpl_plugin.runner import _to_device

    assert HOST_KEYS == {"hard_negative_mask", *TOKEN_KEYS}
    batch = {"image": torch.zeros(1), "hard_negative_mask": torch.ones(1, 5, dtype=torch.bool),
             "text_tokens": torch.zeros(1, 3, dtype=torch.long)}
    moved = _to_device(batch, torch.device("meta"))
    assert moved["image"].device.type == "meta"
    assert moved["hard_negative_mask"] is batch["hard_negative_mask"] and moved["text_tokens"] is batch["text_tokens"]
