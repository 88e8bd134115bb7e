import math

import pytest

from ahnpl_plugin.errors import ConfigError
from ahnpl_plugin.schedule import learning_rate


def test_warmup_is_linear_then_cosine_reaches_min_lr():
    kw = dict(init_lr=1.0, min_lr=0.1, warmup_steps=4, warmup_lr=0.0)
    assert [learning_rate(s, 14, **kw) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate(4, 14, **kw) == pytest.approx(1.0)
    # halfway through the 10 decay steps: min + (max-min)/2
    assert learning_rate(9, 14, **kw) == pytest.approx(0.1 + 0.45 * (1 + math.cos(math.pi * 0.5)))
    assert learning_rate(14, 14, **kw) == pytest.approx(0.1)
    assert learning_rate(100, 14, **kw) == pytest.approx(0.1)


def test_constant_schedule():
    assert learning_rate(50, 100, schedule="constant", init_lr=3e-4) == 3e-4


@pytest.mark.parametrize("name, hint", [("linear_warmup_cosine_lr", "decays once per epoch"),
                                        ("linear_warmup_step_lr", "lr_decay_rate"),
                                        ("constant_lr", "use constant")])
def test_lavis_schedule_names_are_refused_not_run_as_another(name, hint):
    # linear_warmup_cosine_lr used to run silently as the per-step cosine
    with pytest.raises(ConfigError, match=f"run.lr_sched '{name}' is LAVIS's schedule.*{hint}"):
        learning_rate(30, 100, schedule=name, init_lr=1.0)


def test_unknown_schedule_lists_valid_ones():
    with pytest.raises(ConfigError, match="cosine"):
        learning_rate(0, 10, schedule="step", init_lr=1.0)
