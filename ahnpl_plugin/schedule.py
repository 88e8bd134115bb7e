"""Learning-rate schedules as pure functions of the optimiser step.

LAVIS's ``linear_warmup_cosine_lr`` decays per *epoch* and warms up only in epoch 0; the published
AHNPL recipe is a per-step cosine with 50 warm-up steps. A pure function of the step also makes
resuming exact: nothing to save.
"""

from __future__ import annotations

import math

from ahnpl_plugin.errors import unknown_choice

SCHEDULES = ("cosine", "constant", "linear_warmup_cosine_lr")


def learning_rate(
    step: int,
    total_steps: int,
    *,
    schedule: str = "cosine",
    init_lr: float,
    min_lr: float = 0.0,
    warmup_steps: int = 0,
    warmup_lr: float = 0.0,
) -> float:
    """Learning rate at optimiser step ``step`` (0-based) of ``total_steps``.

    Warm-up rises linearly from ``warmup_lr`` to ``init_lr`` over ``warmup_steps`` steps; then
    ``cosine`` decays to ``min_lr`` at ``total_steps``, ``constant`` stays at ``init_lr``.
    ``linear_warmup_cosine_lr`` (LAVIS's name) is accepted as ``cosine``.
    """
    if schedule not in SCHEDULES:
        raise unknown_choice("run.lr_sched", schedule, SCHEDULES)
    warmup_lr = max(warmup_lr, 0.0)
    if step < warmup_steps:
        return warmup_lr + (init_lr - warmup_lr) * (step + 1) / warmup_steps
    if schedule == "constant":
        return init_lr
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (init_lr - min_lr) * (1.0 + math.cos(math.pi * progress))
