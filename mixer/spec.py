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

from typing import Any

from pydantic import Field, field_validator, model_validator

from curation.core.config import RUNTIME, ParallelConfig, StageConfig, StrictModel
from curation.core.errors import CurationError
from curation.core.schema import TEXT
from curation.mixer.sources import ReadOptions

WEIGHT_TOLERANCE = 1e-6
DEFAULT_PHASE = "main"


class SourceSpec(StrictModel):
    """One named stream: files, an optional polars-SQL row filter, its token share and repetition cap."""

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

    def read_options(self, name: str) -> ReadOptions:
        return ReadOptions(name, self.filter, self.text_column, self.upweight_by, self.upweight_power)


class PhaseSpec(StrictModel):
    """A curriculum phase: a share of all tokens with its own source weights (default: the sources')."""

    name: str
    share: float = Field(gt=0, le=1)
    weights: dict[str, float] | None = None


class MixSpec(StageConfig, ParallelConfig):
    """Compile a mixture spec into manifest.json: exact tokens per phase and source."""

    tokenizer: str = Field(
        description="tokenizers JSON, HF tokenizer dir, SentencePiece .model or cached hub id."
    )
    seq_len: int = Field(gt=1, description="Tokens per packed sequence.")
    total_tokens: int = Field(
        gt=0, description="Tokens of the whole mixture (rounded down to whole sequences)."
    )
    seed: int = Field(0, description="Seed of repetition order and shuffling.")
    allow_renormalize: bool = Field(False, description="Hold sources short of their share at their cap.")
    sources: dict[str, SourceSpec] = Field(
        min_length=1, description="Named sources: pt.paths=[...], pt.weight=0.75, pt.filter=..."
    )
    phases: list[PhaseSpec] | None = Field(None, description="Curriculum phases (default: one phase).")
    token_cache: str | None = Field(
        None,
        description="Token cache shared with pack and other mixes (default: <output>/token_cache).",
        json_schema_extra=RUNTIME,
    )

    @model_validator(mode="after")
    def _checks(self) -> MixSpec:
        return validate_spec(self)

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
