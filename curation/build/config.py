"""`curation build` configuration: every CLI flag is a key here; the resolved config is saved with the run."""

from __future__ import annotations

import os
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curation.build.extract import ExtractConfig
from curation.errors import CurationError
from curation.io import DEFAULT_CC_BASE_URL
from curation.remote import RemoteConfig


class PreselectConfig(BaseModel):
    """Cheap language pre-selection before trafilatura (on by default with a single target language)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    max_chars: int = 1500
    lid_top_k: int = 5
    min_target_prob: float = 0.02
    trust_markup: bool = True


class BuildConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lang: list[str] = Field(min_length=1)
    input: list[str] = Field(min_length=1)
    output: str
    limit: int | None = None
    cc_base_url: str = DEFAULT_CC_BASE_URL
    lid_model: str | None = None
    keep_rejected: bool = False
    workers: int | None = None
    ray_address: str | None = None
    executor: Literal["ray", "local"] = "ray"
    max_payload_bytes: int = 20 * 1024 * 1024
    shard_max_docs: int = 100_000
    max_worker_rss_mb: int | None = 4096
    storage_options: dict[str, dict[str, Any]] = Field(default_factory=dict)
    remote: RemoteConfig = Field(default_factory=RemoteConfig)
    classifier: list[str] = Field(default_factory=list)  # [TASK=]model: adds <task>_score to kept documents
    badwords: list[str] = Field(default_factory=list)  # LDNOOBW-style list folders: adds badword_* columns
    preselect: PreselectConfig = Field(default_factory=PreselectConfig)
    extract: ExtractConfig = Field(default_factory=ExtractConfig)
    presets: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("lang", mode="before")
    @classmethod
    def _split_langs(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [v]
        if isinstance(v, list):
            return [code.strip() for item in v for code in str(item).split(",") if code.strip()]
        return v

    @field_validator("input", mode="before")
    @classmethod
    def _as_list(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @property
    def preselect_active(self) -> bool:
        return self.preselect.enabled and len(self.lang) == 1


def load_build_config(config_path: str | None, overrides: dict[str, Any]) -> BuildConfig:
    """Merge a YAML config file with CLI overrides (flags win); errors name the offending key."""
    return load_model_config(BuildConfig, config_path, overrides)


ModelT = TypeVar("ModelT", bound=BaseModel)


def load_model_config(model: type[ModelT], config_path: str | None, overrides: dict[str, Any]) -> ModelT:
    """Validate a YAML config file merged with flag overrides (``None`` = unset; ``a.b`` = nested key)."""
    data: dict[str, Any] = {}
    if config_path:
        if not os.path.exists(config_path):
            raise CurationError(f"config file not found: {config_path}")
        with open(config_path, encoding="utf-8") as f:
            try:
                data = yaml.safe_load(f) or {}
            except yaml.YAMLError as exc:
                raise CurationError(f"config is not valid YAML: {config_path}: {exc}") from None
        if not isinstance(data, dict):
            raise CurationError(f"config must be a mapping of keys: {config_path}")
    for key, value in overrides.items():
        if value is None:
            continue
        if "." in key:
            section, sub = key.split(".", 1)
            data.setdefault(section, {})[sub] = value
        else:
            data[key] = value
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise CurationError(f"invalid config key '{where}': {err['msg']}") from None
