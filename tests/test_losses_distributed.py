"""AHNPLLoss under torch.distributed (2 gloo processes on 127.0.0.1) against the single-process
loss of the concatenated batch: loss value, world_size x the local rows' gradients, 1x the
logit-scale gradient, theta identical on both ranks, equal and unequal per-rank batch sizes."""

from __future__ import annotations


import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from ahnpl_plugin.distributed import gather_rows_with_grad
from ahnpl_plugin.losses import AHNPLLoss
from helpers.distributed import free_port

WORLD_SIZE = 2
SCALE = 9.0
COMPONENTS = ("loss", "loss_itc", "loss_hn", "loss_dm", "loss_hn_text", "loss_hn_image", "loss_dm_pos", "loss_dm_neg")

# name -> loss options, per-rank row counts, seeds of the global batches of successive steps
SCENARIOS = {
    "ahnpl_even": ({}, (3, 3), (1, 2, 3)),
    "ahnpl_uneven_max_cross": ({"threshold": "max", "hn_anchor": "cross", "positive_margin": 0.9}, (4, 1), (4, 5)),
    "reference_even": ({"mode": "reference"}, (3, 3), (6, 7)),
    "reference_uneven": ({"mode": "reference", "image_hn_weight": 0.001}, (2, 3), (8,)),
}


def global_batch(seed: int, batch: int, types: int = 5, dim: int = 6, poison_invalid: bool = False):
    """A fixed global batch; row 0 has no valid negative, type 4 has none in the whole batch."""
    generator = torch.Generator().manual_seed(seed)
    v = F.normalize(torch.randn(batch, dim, generator=generator, dtype=torch.float64), dim=-1)
    t = F.normalize(v + torch.randn(batch, dim, generator=generator, dtype=torch.float64), dim=-1)
    n = F.normalize(t.unsqueeze(1) + 0.7 * torch.randn(batch, types, dim, generator=generator, dtype=torch.float64), dim=-1)
    m = torch.rand(batch, types, generator=generator) < 0.7
    m[0] = False
    m[:, 4] = False
    if poison_invalid:
        n[~m] = float("nan")  # mode ahnpl must not see invalid negatives at all
    return v, t, n, m


def run_steps(options, seeds, batch, rows=None):
    """Training steps of a fresh loss; ``rows`` = this rank's slice of each global batch."""
    loss = AHNPLLoss(**options).train()
    poison = options.get("mode", "ahnpl") == "ahnpl"
    steps = []
    for seed in seeds:
        v, t, n, m = (x[rows] if rows is not None else x for x in global_batch(seed, batch, poison_invalid=poison))
        v, t, n = (x.clone().requires_grad_() for x in (v, t, n))
        s = torch.tensor(SCALE, dtype=torch.float64, requires_grad=True)
        out = loss(v, t, n, m, s)
        out["loss"].backward()
        record = {key: out[key].detach().clone() for key in COMPONENTS}
        record.update(used=out["thresholds"].clone(), stored=loss.thresholds.clone(),
                      grad_v=v.grad, grad_t=t.grad, grad_n=n.grad, grad_s=s.grad)
        steps.append(record)
    return steps


def _worker(rank: int, port: int, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        results = {}
        for name, (options, counts, seeds) in SCENARIOS.items():
            start = sum(counts[:rank])
            results[name] = run_steps(options, seeds, sum(counts), rows=slice(start, start + counts[rank]))
        # trailing dimensions that differ between ranks are reported on every rank
        dim = 4 if rank == 0 else 5
        try:
            AHNPLLoss()(torch.zeros(2, dim), torch.zeros(2, dim), torch.zeros(2, 5, dim), torch.zeros(2, 5, dtype=torch.bool), 1.0)
            results["mismatch"] = "no error"
        except ValueError as error:
            results["mismatch"] = str(error)
        torch.save(results, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    return torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_gather_is_identity_without_process_group():
    x = torch.randn(3, 2, requires_grad=True)
    assert gather_rows_with_grad(x) is x


@pytest.mark.slow  # 2 gloo processes
def test_two_process_loss_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD_SIZE)]
    for r in range(WORLD_SIZE):
        message = ranks[r]["mismatch"]
        assert "ranks disagree on the feature size D" in message and f"K=5, D={4 + r}" in message
        assert "rank 0: (2, 33), rank 1: (2, 40)" in message  # 2D + 5D + 5 per rank
    for name, (options, counts, seeds) in SCENARIOS.items():
        single = run_steps(options, seeds, sum(counts))
        for step, expected in enumerate(single):
            for r in range(WORLD_SIZE):
                got = ranks[r][name][step]
                where = f"{name} step {step} rank {r}"
                for key in COMPONENTS:
                    assert torch.isfinite(got[key]), where
                    assert torch.allclose(got[key], expected[key], rtol=1e-5, atol=0), f"{where} {key}"
                    assert close(got[key], expected[key]), f"{where} {key}"
                assert torch.equal(got["used"], ranks[0][name][step]["used"]), where
                assert torch.equal(got["stored"], ranks[0][name][step]["stored"]), where
                assert torch.allclose(got["stored"], expected["stored"], atol=1e-6), where
                assert torch.allclose(got["used"], expected["used"], atol=1e-6), where
                rows = slice(sum(counts[:r]), sum(counts[: r + 1]))
                for key in ("grad_v", "grad_t", "grad_n"):
                    assert close(got[key], WORLD_SIZE * expected[key][rows]), f"{where} {key}"
                assert close(got["grad_s"], expected["grad_s"]), f"{where} grad_s"
        # the scenarios exercise a non-trivial theta and gradients reaching the negatives
        assert single[-1]["stored"].abs().sum() > 0 and single[0]["grad_n"].abs().sum() > 0
