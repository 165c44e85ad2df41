"""Stage configuration: one pydantic model per command, loaded from YAML and flags, fingerprinted.

Every key is written once, in its model: the CLI flags are generated from the fields (``curation.core.cli``),
the resolved config is saved with the run, and the fingerprint of the keys that change results decides
whether earlier completion records still count. Fields marked ``runtime`` (how to run, not what to compute:
executor, workers, cluster address...) are left out of the fingerprint.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curation.core.errors import CurationError

RUNTIME = {"runtime": True}  # json_schema_extra of a field that does not change a stage's results


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo must not be silently ignored)."""

    model_config = ConfigDict(extra="forbid")


class StageConfig(StrictModel):
    """Keys every stage has."""

    output: str = Field(
        description="Output directory (local path or fsspec URL).", json_schema_extra={"short": "-o"}
    )
    storage_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="fsspec options per protocol, e.g. s3.endpoint_url=http://host:9000.",
        json_schema_extra=RUNTIME,
    )


class ParallelConfig(StrictModel):
    """How a stage fans out its units of work: local Ray by default, a cluster by address, or in-process."""

    executor: Literal["ray", "local"] = Field(
        "ray", description="ray (local Ray, or a cluster with --ray-address) or local (in-process).",
        json_schema_extra=RUNTIME,
    )  # fmt: skip
    workers: int | None = Field(
        None, gt=0, description="Parallel tasks (default: all CPUs).", json_schema_extra=RUNTIME
    )
    ray_address: str | None = Field(
        None, description="Address of an existing Ray cluster.", json_schema_extra=RUNTIME
    )


ModelT = TypeVar("ModelT", bound=BaseModel)


def read_yaml_mapping(path: str) -> dict[str, Any]:
    """A YAML file that must hold a mapping; a missing or malformed file is a one-line user error."""
    from curation.core import io

    if not io.exists(path):
        raise CurationError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(io.read_text(path)) or {}
    except yaml.YAMLError as exc:
        raise CurationError(f"config is not valid YAML: {path}: {exc}") from None
    if not isinstance(data, dict):
        raise CurationError(f"config must be a mapping of keys: {path}")
    return data


def set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    """``set_dotted(d, "a.b", 1)`` sets ``d["a"]["b"] = 1``, creating (or replacing non-mapping) levels."""
    *parents, leaf = key.split(".")
    for part in parents:
        if not isinstance(data.get(part), dict):
            data[part] = {}
        data = data[part]
    data[leaf] = value


def validate(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate ``data``; the first error becomes a one-line CurationError naming the key."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "config"
        raise CurationError(f"invalid config key '{where}': {err['msg']}") from None


def load_config(model: type[ModelT], path: str | None, overrides: dict[str, Any] | None = None) -> ModelT:
    """A YAML file (optional) with ``overrides`` on top (dotted keys; ``None`` means not given)."""
    data = read_yaml_mapping(path) if path else {}
    for key, value in (overrides or {}).items():
        if value is not None:
            set_dotted(data, key, value)
    return validate(model, data)


def _results_keys(model: BaseModel) -> dict[str, Any]:
    """The config as JSON without runtime fields, recursively."""
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        if (info.json_schema_extra or {}).get("runtime"):  # type: ignore[union-attr]
            continue
        value = getattr(model, name)
        out[name] = _results_keys(value) if isinstance(value, BaseModel) else value
    return json.loads(json.dumps(out, sort_keys=True, default=str))


def fingerprint(obj: Any) -> str:
    """sha256 hex of the canonical JSON of ``obj`` (a config's results keys, a manifest...)."""
    if isinstance(obj, BaseModel):
        obj = _results_keys(obj)
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()
