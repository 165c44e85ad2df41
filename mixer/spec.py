"""The mixture spec (YAML): sources (filters, weights, repetition caps), budget, seq_len, seed, phases.

Example (75% Portuguese, 25% English replay, then an annealing phase on the best documents)::

    tokenizer: path/to/tokenizer.json        # or an HF tokenizer dir, a SentencePiece .model, a hub id
    seq_len: 2048
    total_tokens: 10_000_000_000
    seed: 0
    sources:
      pt_high: {paths: ["corpus/pt/*.parquet"], filter: "edu_score >= 3", weight: 0.55, max_epochs: 4}
      pt_rest: {paths: ["corpus/pt/*.parquet"], filter: "edu_score < 3", weight: 0.20, max_epochs: 1,
                upweight_by: dup_cluster_size}     # repeat documents in proportion (still capped)
      en_replay: {paths: ["english/"], weight: 0.25, max_epochs: 1}   # Parquet, JSONL(.gz) or .txt files
    phases:                                  # optional; without it, one phase with the weights above
      - {name: main, share: 0.85}
      - {name: anneal, share: 0.15, weights: {pt_high: 0.7, pt_rest: 0.0, en_replay: 0.3}}
    allow_renormalize: false                 # true: hold short sources at their cap, share the rest
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from curation.errors import CurationError
from curation.schema import TEXT

WEIGHT_TOLERANCE = 1e-6
DEFAULT_PHASE = "main"
RUN_KEYS = ("executor", "workers", "ray_address")


class SourceSpec(BaseModel):
    """One named stream: files, an optional polars-SQL row filter, its token share and repetition cap."""

    model_config = ConfigDict(extra="forbid")
    paths: list[str] = Field(min_length=1)
    filter: str | None = None
    weight: float | None = Field(default=None, ge=0)
    max_epochs: float = Field(default=1.0, gt=0)
    upweight_by: str | None = None
    upweight_power: float = Field(default=1.0, gt=0)
    text_column: str = TEXT

    @field_validator("paths", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v


class PhaseSpec(BaseModel):
    """A curriculum phase: a share of all tokens with its own source weights (default: the sources')."""

    model_config = ConfigDict(extra="forbid")
    name: str
    share: float = Field(gt=0, le=1)
    weights: dict[str, float] | None = None


class MixSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tokenizer: str
    seq_len: int = Field(gt=1)
    total_tokens: int = Field(gt=0)
    seed: int = 0
    allow_renormalize: bool = False
    sources: dict[str, SourceSpec] = Field(min_length=1)
    phases: list[PhaseSpec] | None = None
    # how to run (not part of the plan, left out of fingerprints)
    executor: Literal["ray", "local"] = "ray"
    workers: int | None = Field(default=None, gt=0)
    ray_address: str | None = None

    def phase_list(self) -> list[PhaseSpec]:
        """The phases in training order; a spec without phases is one phase with the sources' weights."""
        return self.phases or [PhaseSpec(name=DEFAULT_PHASE, share=1.0)]

    def phase_weights(self, phase: PhaseSpec) -> dict[str, float]:
        if phase.weights is not None:
            return {name: float(phase.weights.get(name, 0.0)) for name in self.sources}
        return {name: float(src.weight or 0.0) for name, src in self.sources.items()}


def _check_sum(values: dict[str, float], what: str) -> None:
    total = sum(values.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise CurationError(f"{what} sum to {total:.6g}, not 1")


def validate_spec(spec: MixSpec) -> MixSpec:
    """Checks pydantic cannot express: weights and shares sum to 1, phases name known sources."""
    if spec.total_tokens < spec.seq_len:
        raise CurationError(f"total_tokens ({spec.total_tokens}) is smaller than seq_len ({spec.seq_len})")
    phases = spec.phase_list()
    if len({p.name for p in phases}) != len(phases):
        raise CurationError("phase names must be unique")
    _check_sum({p.name: p.share for p in phases}, "phase shares")
    for phase in phases:
        if phase.weights is None:
            missing = [name for name, src in spec.sources.items() if src.weight is None]
            if missing:
                raise CurationError(f"source '{missing[0]}' has no weight (needed by phase '{phase.name}')")
        else:
            unknown = sorted(set(phase.weights) - set(spec.sources))
            if unknown:
                raise CurationError(f"phase '{phase.name}' weights name unknown source '{unknown[0]}'")
            negative = [name for name, w in phase.weights.items() if w < 0]
            if negative:
                raise CurationError(f"phase '{phase.name}' weight of '{negative[0]}' is negative")
        label = "source weights" if phase.weights is None else f"weights of phase '{phase.name}'"
        _check_sum(spec.phase_weights(phase), label)
    return spec


def load_spec(path: str | os.PathLike[str], overrides: dict[str, Any] | None = None) -> MixSpec:
    """Read and validate a mixture spec; ``overrides`` (CLI flags, None = unset) replace its keys."""
    from curation.build.config import load_model_config

    if not os.path.isfile(path):
        raise CurationError(f"spec file not found: {path}")
    return validate_spec(load_model_config(MixSpec, os.fspath(path), overrides or {}))
