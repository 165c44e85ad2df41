"""The ablation spec (``ablate.yaml``): a base mixture, its variants, the proxy model, the budget, the seeds.

Example (heuristic filters on and off, at equal tokens, 3 seeds, the ``1m`` proxy on CPU)::

    output: ablation
    tokenizer: tokenizer.json
    proxy: 1m                        # curation.train.proxy: 1m, 3m, 20m, 60m, 150m, 400m
    tokens: 2_000_000                # per job; default: tokens_per_param x the proxy's parameters
    seeds: [0, 1, 2]
    evalsets: evalsets               # `curation evalsets` output
    base:
      sources:
        web: {paths: [build/en], max_epochs: 4}
    variants:
      filtered: {}                                        # the base as it is (the first is the baseline)
      unfiltered: {sources: {web: {paths: [build/en, build/rejected]}}}
      edu: {filter: "edu_score >= 2"}                     # ANDed onto every source's filter
      replay: {sources: {web: {weight: 0.75}, en: {paths: [english/], weight: 0.25}}}
      other: {mix: other-mix.yaml}                        # a whole mixture spec (its sources and phases)

Every variant gets the same tokenizer, proxy, token budget, schedule and seeds; only its data differ.
Dedup on/off is a variant whose paths point at the `curation build` output instead of the `curation dedup`
output (or ``upweight_by: dup_cluster_size`` to put duplicates back in proportion).
"""

from __future__ import annotations

import copy
import re
from typing import Any, Literal

from pydantic import Field, model_validator

from curation.core.config import (
    RUNTIME,
    ParallelConfig,
    StageConfig,
    StrictModel,
    read_yaml_mapping,
    validate,
)
from curation.core.errors import CurationError
from curation.train.evaluation.stage import EvalOptions
from curation.train.schedule import ScheduleConfig

MIX_KEYS = ("sources", "phases", "allow_renormalize")  # what a variant's data is; the rest is the ablation's


class BaseMixture(StrictModel):
    sources: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="Sources as in a mixture spec: NAME.paths=[...], NAME.filter=..., NAME.weight=...",
    )
    phases: list[dict[str, Any]] | None = Field(None, description="Curriculum phases as in a mixture spec.")
    allow_renormalize: bool = Field(False, description="Hold sources short of their share at their cap.")


class VariantSpec(StrictModel):
    description: str = Field("", description="What the variant changes (shown in the tables).")
    mix: str | None = Field(
        None, description="A mixture spec file whose sources and phases replace the base's."
    )
    sources: dict[str, dict[str, Any] | None] = Field(
        default_factory=dict,
        description="Per-source keys merged onto the base (a new name adds a source, null removes one).",
    )
    filter: str | None = Field(None, description="SQL row filter ANDed onto every source's filter.")


class AblationEval(EvalOptions):
    curve_points: int = Field(4, ge=0, description="Held-out bits per byte this many times during training.")
    curve_max_bytes: int = Field(50_000, gt=0, description="UTF-8 bytes per set for the learning curves.")


class AblateConfig(StageConfig, ParallelConfig):
    """Data ablation: train the same proxy model on each variant of a mixture at equal tokens, several seeds,
    and compare held-out bits per byte and early-signal tasks."""

    tokenizer: str = Field(description="Tokenizer of every job (tokenizers JSON, HF folder, .model).")
    base: BaseMixture
    variants: dict[str, VariantSpec] = Field(min_length=1, description="Named variants of the base mixture.")
    baseline: str | None = Field(None, description="Variant the others are compared to (default: the first).")
    proxy: str = Field("1m", description="Proxy model size: 1m, 3m (CPU), 20m, 60m, 150m, 400m (GPU).")
    init_model: str | None = Field(
        None,
        description="A pretrained model every job continues from (continued pretraining; the proxy then "
        "sets only the batch, sequence and schedule defaults). Default: a new proxy model.",
    )
    tokens: int | None = Field(
        None, gt=0, description="Training tokens per job (default: tokens_per_param rule)."
    )
    tokens_per_param: float = Field(
        20.0, gt=0, description="Budget rule: tokens = this x the proxy's parameters."
    )
    seeds: list[int] = Field(
        default_factory=lambda: [0, 1, 2], min_length=1, description="Seeds of every variant."
    )
    seq_len: int | None = Field(None, gt=1, description="Tokens per sequence (default: the proxy's).")
    global_batch_tokens: int | None = Field(None, gt=0, description="Tokens per step (default: the proxy's).")
    micro_batch_size: int | None = Field(None, gt=0, description="Sequences per forward (default: up to 16).")
    schedule: ScheduleConfig | None = Field(
        None, description="Learning-rate schedule (default: cosine from the proxy's lr to lr/10, 5% warm-up)."
    )
    evalsets: str | None = Field(None, description="`curation evalsets` output: held-out sets and tasks.")
    eval: AblationEval = Field(default_factory=AblationEval)
    checkpoint_every_steps: int | None = Field(
        None,
        ge=0,
        description="Checkpoint each job every N steps, to resume after a kill (default: a quarter).",
    )
    token_cache: str | None = Field(
        None,
        description="Token cache shared by every job (default: <output>/token_cache).",
        json_schema_extra=RUNTIME,
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: one GPU per job when there are GPUs, else CPU.", json_schema_extra=RUNTIME
    )
    threads_per_job: int = Field(
        1, gt=0, description="CPU threads of a job on CPU.", json_schema_extra=RUNTIME
    )

    @model_validator(mode="after")
    def _checks(self) -> AblateConfig:
        if self.baseline is not None and self.baseline not in self.variants:
            raise CurationError(f"baseline '{self.baseline}' is not a variant ({', '.join(self.variants)})")
        bad = [name for name in self.variants if not re.fullmatch(r"[A-Za-z0-9._-]+", name)]
        if bad:
            raise CurationError(f"variant name '{bad[0]}': use letters, digits, '.', '_' and '-' only")
        if len(set(self.seeds)) != len(self.seeds):
            raise CurationError("seeds must be distinct")
        if not self.evalsets and not self.eval.sets:
            raise CurationError("nothing to evaluate the variants on: give evalsets or eval.sets")
        for name in self.variants:
            variant_mixture(self, name)
        return self

    @property
    def baseline_name(self) -> str:
        return self.baseline or next(iter(self.variants))


def _and(a: str | None, b: str) -> str:
    return f"({a}) and ({b})" if a else b


def variant_mixture(cfg: AblateConfig, name: str) -> dict[str, Any]:
    """The mixture keys (sources, phases, allow_renormalize) of a variant: the base, or its ``mix`` file,
    with the variant's per-source changes and filter applied."""
    variant = cfg.variants[name]
    mixture = copy.deepcopy(cfg.base.model_dump(exclude_none=True))
    if variant.mix:
        other = read_yaml_mapping(variant.mix)
        mixture = {k: copy.deepcopy(other[k]) for k in MIX_KEYS if k in other}
        if not mixture.get("sources"):
            raise CurationError(f"variant '{name}': mixture spec {variant.mix} has no sources")
    sources = mixture["sources"]
    for source, change in variant.sources.items():
        if change is None:
            sources.pop(source, None)
        elif source in sources:
            sources[source] = {**sources[source], **change}
        else:
            sources[source] = dict(change)
    if not sources:
        raise CurationError(f"variant '{name}' has no sources left")
    if variant.filter:
        for spec in sources.values():
            spec["filter"] = _and(spec.get("filter"), variant.filter)
    if len(sources) == 1:
        only = next(iter(sources.values()))
        only.setdefault("weight", 1.0)
    from curation.mixer.spec import MixSpec

    probe = {"output": ".", "tokenizer": cfg.tokenizer, "seq_len": 2, "total_tokens": 2, **mixture}
    try:
        validate(MixSpec, probe)
    except CurationError as exc:
        raise CurationError(f"variant '{name}': {exc}") from None
    return mixture
