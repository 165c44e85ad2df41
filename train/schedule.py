"""Learning-rate schedules for continued pretraining, as pure functions of the optimiser step.

* ``cosine``: linear re-warm-up from ``warmup_start_lr`` to ``lr``, then cosine decay to ``min_lr`` at
  ``total_steps``.
* ``wsd``: warm-up, stable at ``lr``, then decay to ``min_lr`` over the last ``decay_steps`` steps.
* ``continue``: no warm-up; stay at ``lr`` (the LR the base run ended at), then decay over the last
  ``decay_steps`` (all steps when ``decay_steps`` is 0).
* ``constant``: warm-up then ``lr`` for ever.

The decay shape of ``wsd``/``continue`` is ``linear``, ``cosine`` or ``1-sqrt`` (Hägele et al., 2024).
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from curation.core.config import StrictModel

ScheduleKind = Literal["cosine", "wsd", "continue", "constant"]
DecayShape = Literal["linear", "cosine", "1-sqrt"]


class ScheduleConfig(StrictModel):
    kind: ScheduleKind = Field("cosine", description="cosine, wsd, continue or constant.")
    lr: float = Field(3e-4, gt=0, description="Peak (or continued) learning rate.")
    min_lr: float = Field(3e-5, ge=0, description="Final learning rate.")
    warmup_steps: int = Field(100, ge=0, description="Linear re-warm-up steps.")
    warmup_start_lr: float = Field(0.0, ge=0, description="Learning rate at the start of warm-up.")
    decay_steps: int = Field(0, ge=0, description="wsd/continue: decay steps at the end.")
    decay_shape: DecayShape = Field("linear", description="linear, cosine or 1-sqrt.")

    @model_validator(mode="after")
    def _check(self) -> ScheduleConfig:
        if self.min_lr > self.lr:
            raise ValueError(f"min_lr ({self.min_lr}) must not exceed lr ({self.lr})")
        if self.kind == "continue" and self.warmup_steps:
            raise ValueError("kind 'continue' has no warm-up: set warmup_steps to 0")
        return self


def _decay_factor(progress: float, shape: DecayShape) -> float:
    """1 at ``progress`` 0, 0 at ``progress`` 1."""
    progress = min(max(progress, 0.0), 1.0)
    if shape == "linear":
        return 1.0 - progress
    if shape == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return 1.0 - math.sqrt(progress)


def lr_at(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """The learning rate of optimiser step ``step`` (0-based) in a run of ``total_steps`` steps."""
    warmup = 0 if cfg.kind == "continue" else cfg.warmup_steps
    if step < warmup:
        return cfg.warmup_start_lr + (cfg.lr - cfg.warmup_start_lr) * (step + 1) / warmup
    if cfg.kind == "constant":
        return cfg.lr
    if cfg.kind == "cosine":
        span = max(total_steps - warmup, 1)
        return cfg.min_lr + (cfg.lr - cfg.min_lr) * _decay_factor((step - warmup + 1) / span, "cosine")
    decay_steps = cfg.decay_steps or (total_steps - warmup)
    decay_start = total_steps - decay_steps
    if step < decay_start:
        return cfg.lr
    progress = (step - decay_start + 1) / max(decay_steps, 1)
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * _decay_factor(progress, cfg.decay_shape)
