"""Learning-rate schedules as pure functions of the optimiser step.

LAVIS's ``linear_warmup_cosine_lr`` decays per *epoch* and warms up only in epoch 0; the published
AHNPL recipe is a per-step cosine with 50 warm-up steps. LAVIS's schedule names are refused with the
nearest of ours named, as each is another curve. A pure function of the step also makes
resuming exact: nothing to save. :func:`micro_step` places a micro-step of gradient accumulation
(which optimiser step it feeds, what its loss is divided by).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ahnpl_plugin.errors import ConfigError, unknown_choice

SCHEDULES = ("cosine", "constant")

# LAVIS's scheduler names: each means another curve than any of ours, so each is refused with the
# nearest of ours named (never silently run as another schedule).
LAVIS_SCHEDULES = {
    "linear_warmup_cosine_lr": "LAVIS's cosine decays once per epoch and warms up only in epoch 0; "
                               "use cosine (per-step cosine after run.warmup_steps)",
    "linear_warmup_step_lr": "LAVIS's step decay by run.lr_decay_rate per epoch is not implemented; "
                             "use cosine or constant",
    "constant_lr": "use constant (the same curve, with optional run.warmup_steps)",
}


def check_schedule(schedule) -> str:
    """``schedule`` if ``ahnpl_runner`` runs it; a ConfigError naming the valid ones otherwise."""
    name = str(schedule)
    if name in LAVIS_SCHEDULES:
        raise ConfigError(f"run.lr_sched {name!r} is LAVIS's schedule, not run by ahnpl_runner: "
                          f"{LAVIS_SCHEDULES[name]}")
    if name not in SCHEDULES:
        raise unknown_choice("run.lr_sched", name, SCHEDULES)
    return name


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
    LAVIS's names are refused (:func:`check_schedule`).
    """
    check_schedule(schedule)
    warmup_lr = max(warmup_lr, 0.0)
    if step < warmup_steps:
        return warmup_lr + (init_lr - warmup_lr) * (step + 1) / warmup_steps
    if schedule == "constant":
        return init_lr
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + 0.5 * (init_lr - min_lr) * (1.0 + math.cos(math.pi * progress))


def optimizer_steps_per_epoch(iters: int, accum: int) -> int:
    """Optimiser steps of an epoch of ``iters`` micro-steps, accumulated ``accum`` at a time.

    Accumulation groups never cross an epoch boundary, so a trailing partial group is a step too:
    ``ceil(iters / accum)``.
    """
    if iters < 0 or accum < 1:
        raise ValueError(f"need iters >= 0 and accum >= 1, got iters={iters}, accum={accum}")
    return -(-iters // accum)


@dataclass(frozen=True)
class MicroStep:
    """Where micro-step ``i`` of an epoch stands in gradient accumulation."""

    optimizer_step: int  # 0-based index over the whole run of the optimiser step it feeds
    group_size: int  # micro-steps in its group: the loss is divided by this, so the step
    # follows the mean loss of the group, a trailing partial group included
    last_in_group: bool  # the optimiser steps after this micro-step


def micro_step(epoch: int, i: int, iters: int, accum: int) -> MicroStep:
    """Micro-step ``i`` (0-based) of ``epoch``, with ``iters`` micro-steps per epoch."""
    if not 0 <= i < iters:
        raise ValueError(f"micro-step {i} outside an epoch of {iters}")
    group_start = (i // accum) * accum
    size = min(accum, iters - group_start)
    return MicroStep(
        optimizer_step=epoch * optimizer_steps_per_epoch(iters, accum) + i // accum,
        group_size=size,
        last_in_group=i == group_start + size - 1,
    )
