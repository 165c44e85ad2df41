"""`curation dedup` configuration: every key is also a flag (``--minhash.threshold``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from curation.core.config import RUNTIME, ParallelConfig, StageConfig, StrictModel
from curation.core.errors import CurationError

KEEP_LONGEST = "longest"
KEEP_LATEST = "latest"
KEEP_HIGHEST_PREFIX = "highest:"
UNVERIFIED_FP_WEIGHT = 0.5  # datasketch's MinHashLSH weighting: 14 bands x 9 rows at 0.7 and 128 permutations
VERIFIED_FP_WEIGHT = 0.1  # 20 x 6 at 0.7 and 128: a pair at the threshold is a candidate 92% of the time


class ToggleConfig(StrictModel):
    enabled: bool = Field(True, description="Run this kind of dedup.")


class MinhashConfig(StrictModel):
    """MinHash LSH near-duplicate detection; ``bands``/``rows`` default to the optimum for ``threshold``."""

    enabled: bool = Field(True, description="MinHash near-dedup.")
    threshold: float = Field(0.7, gt=0.0, lt=1.0, description="Jaccard similarity of near-duplicates.")
    num_perm: int = Field(128, ge=2, le=1024, description="MinHash permutations.")
    bands: int | None = Field(None, ge=1, description="LSH bands (default: optimal for the threshold).")
    rows: int | None = Field(None, ge=1, description="LSH rows per band (with bands).")
    fp_weight: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Weight of false positives in the bands/rows optimum (default: 0.1 with verify, else 0.5).",
    )
    word_ngram: int = Field(5, ge=1, description="Words per shingle.")
    char_ngram: int = Field(5, ge=1, description="Characters per shingle (scripts without spaces).")
    shingle: Literal["auto", "word", "char"] = Field("auto", description="Shingle unit (auto: by language).")
    verify: bool = Field(
        True, description="Keep only candidate pairs whose exact shingle Jaccard reaches the threshold."
    )
    seed: int = Field(1, description="Hash seed.")

    @property
    def resolved_fp_weight(self) -> float:
        """Verification drops false positives, so with it the optimum trades them for fewer misses."""
        if self.fp_weight is not None:
            return self.fp_weight
        return VERIFIED_FP_WEIGHT if self.verify else UNVERIFIED_FP_WEIGHT

    @model_validator(mode="after")
    def _bands_rows(self) -> MinhashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class DedupConfig(StageConfig, ParallelConfig):
    """Remove exact, same-URL and MinHash near-duplicate documents across all shards."""

    input: list[str] = Field(
        min_length=1, description="Parquet shards, globs or directories.", json_schema_extra={"short": "-i"}
    )
    keep: str = Field(KEEP_LONGEST, description="Survivor policy: longest, latest or highest:<column>.")
    write_removed: bool = Field(False, description="Also write removed documents (removed/).")
    exact: ToggleConfig = Field(default_factory=ToggleConfig, description="Exact normalised-text dedup.")
    url: ToggleConfig = Field(default_factory=ToggleConfig, description="URL dedup (keeps the latest crawl).")
    minhash: MinhashConfig = Field(default_factory=MinhashConfig)
    partitions: int | None = Field(None, ge=1, description="Hash partitions per shuffle (default: by size).")
    docs_per_partition: int = Field(500_000, ge=1, description="Documents per partition when sizing them.")
    max_cc_rounds: int = Field(200, ge=1, description="Rounds of label propagation at most.")
    keep_work: bool = Field(False, description="Keep the intermediate files.", json_schema_extra=RUNTIME)
    stop_after: Literal["records", "exact", "url", "bands", "verify", "components", "clusters"] | None = (
        Field(None, description="Stop after this step (rerun to go on).", json_schema_extra=RUNTIME)
    )

    @field_validator("input", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("keep")
    @classmethod
    def _keep_policy(cls, v: str) -> str:
        if v in (KEEP_LONGEST, KEEP_LATEST) or (v.startswith(KEEP_HIGHEST_PREFIX) and len(v) > 8):
            return v
        raise ValueError(f"unknown keep policy {v!r}: use longest, latest or highest:<column>")

    @model_validator(mode="after")
    def _some_kind(self) -> DedupConfig:
        if not (self.exact.enabled or self.url.enabled or self.minhash.enabled):
            raise CurationError("config enables no dedup kind: set exact, url or minhash enabled")
        return self

    @property
    def keep_column(self) -> str | None:
        """The score column of ``highest:<column>``, else None."""
        return self.keep[len(KEEP_HIGHEST_PREFIX) :] if self.keep.startswith(KEEP_HIGHEST_PREFIX) else None
