"""LR schedules: pure functions of the step with the documented shapes."""

from __future__ import annotations

import pytest

from curation.core.config import load_config
from curation.core.errors import CurationError
from curation.train.config import TrainConfig
from curation.train.schedule import ScheduleConfig, lr_at

TOTAL = 100


def curve(**kwargs: object) -> list[float]:
    cfg = ScheduleConfig(**kwargs)
    return [lr_at(step, TOTAL, cfg) for step in range(TOTAL)]


def test_cosine_rewarms_linearly_then_decays_to_min() -> None:
    lrs = curve(kind="cosine", lr=1e-3, min_lr=1e-4, warmup_steps=10)
    assert lrs[0] == pytest.approx(1e-4)  # (0 + 1) / 10 of the peak
    assert lrs[9] == pytest.approx(1e-3)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10], strict=False))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:], strict=False))
    assert lrs[-1] == pytest.approx(1e-4)  # the last step reaches min_lr


def test_wsd_is_stable_then_decays_over_the_last_steps() -> None:
    lrs = curve(kind="wsd", lr=1e-3, min_lr=0.0, warmup_steps=5, decay_steps=20)
    assert lrs[5:80] == [pytest.approx(1e-3)] * 75
    assert lrs[80] < 1e-3
    assert lrs[-1] == pytest.approx(0.0)
    sqrt_lrs = curve(kind="wsd", lr=1e-3, min_lr=0.0, warmup_steps=5, decay_steps=20, decay_shape="1-sqrt")
    assert sqrt_lrs[85] < lrs[85]  # 1-sqrt drops faster early in the decay


def test_continue_starts_at_the_given_lr_and_decays() -> None:
    lrs = curve(kind="continue", lr=2e-4, min_lr=2e-5, warmup_steps=0, decay_steps=0, decay_shape="cosine")
    assert lrs[0] == pytest.approx(2e-4, rel=1e-3)  # no warm-up: the first step is at (almost) the given LR
    assert lrs[-1] == pytest.approx(2e-5)
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))
    held = curve(kind="continue", lr=2e-4, min_lr=2e-5, warmup_steps=0, decay_steps=30)
    assert held[:70] == [pytest.approx(2e-4)] * 70 and held[-1] == pytest.approx(2e-5)


def test_schedule_is_a_pure_function_of_step() -> None:
    cfg = ScheduleConfig(kind="wsd", lr=1e-3, warmup_steps=7, decay_steps=13)
    forward = [lr_at(s, TOTAL, cfg) for s in range(TOTAL)]
    backward = [lr_at(s, TOTAL, cfg) for s in reversed(range(TOTAL))][::-1]
    assert forward == backward


@pytest.mark.parametrize(
    ("schedule", "key"),
    [
        ({"kind": "continue", "warmup_steps": 5}, "schedule"),
        ({"lr": 1e-4, "min_lr": 1e-3}, "schedule"),
        ({"kind": "linear-ish"}, "schedule.kind"),
    ],
)
def test_bad_schedules_fail_with_the_key(schedule: dict[str, object], key: str) -> None:
    with pytest.raises(CurationError, match=f"'{key}"):
        load_config(  # what `curation train --config FILE --flags` and `Train.call` validate with
            TrainConfig,
            None,
            {
                "data": "d",
                "output": "o",
                "model": {"config": {}},
                "max_steps": 1,
                "global_batch_tokens": 64,
                "schedule": schedule,
            },
        )
