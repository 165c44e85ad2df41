"""`curation dedup` configuration: every CLI flag is a key here; the resolved config is saved with the run."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from curation.build.config import load_model_config
from curation.errors import CurationError

KEEP_LONGEST = "longest"
KEEP_LATEST = "latest"
KEEP_HIGHEST_PREFIX = "highest:"


class ToggleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True


class MinhashConfig(BaseModel):
    """MinHash LSH near-duplicate detection; ``bands``/``rows`` default to the optimum for ``threshold``."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    threshold: float = Field(0.7, gt=0.0, lt=1.0)
    num_perm: int = Field(128, ge=2, le=1024)
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)
    fp_weight: float = Field(0.5, ge=0.0, le=1.0)
    word_ngram: int = Field(5, ge=1)
    char_ngram: int = Field(5, ge=1)
    shingle: Literal["auto", "word", "char"] = "auto"
    verify: bool = False
    seed: int = 1

    @model_validator(mode="after")
    def _bands_rows(self) -> MinhashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both bands and rows, or neither")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands * self.rows} exceeds num_perm = {self.num_perm}")
        return self


class DedupConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input: list[str] = Field(min_length=1)
    output: str
    keep: str = KEEP_LONGEST
    write_removed: bool = False
    exact: ToggleConfig = Field(default_factory=ToggleConfig)
    url: ToggleConfig = Field(default_factory=ToggleConfig)
    minhash: MinhashConfig = Field(default_factory=MinhashConfig)
    partitions: int | None = Field(None, ge=1)
    docs_per_partition: int = Field(500_000, ge=1)
    max_cc_rounds: int = Field(200, ge=1)
    keep_work: bool = False
    stop_after: Literal["records", "exact", "url", "bands", "verify", "components", "clusters"] | None = None
    workers: int | None = None
    ray_address: str | None = None
    executor: Literal["ray", "local"] = "ray"

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

    @property
    def keep_column(self) -> str | None:
        """The score column of ``highest:<column>``, else None."""
        return self.keep[len(KEEP_HIGHEST_PREFIX) :] if self.keep.startswith(KEEP_HIGHEST_PREFIX) else None


def load_dedup_config(config_path: str | None, overrides: dict[str, Any]) -> DedupConfig:
    cfg = load_model_config(DedupConfig, config_path, overrides)
    if not (cfg.exact.enabled or cfg.url.enabled or cfg.minhash.enabled):
        raise CurationError("config enables no dedup kind: set exact, url or minhash enabled")
    return cfg
