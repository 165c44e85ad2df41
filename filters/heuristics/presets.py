"""Per-language presets (FineWeb-2 style): LID threshold, word tokenizer, stop words, and every registered
rule's settings.

Resolution: each rule's defaults <- ``presets/<lang>.yaml`` (if shipped) <- the run config's
``presets.<lang>`` overrides. Any threshold may be ``null`` to switch that check off. A language without a
shipped file has no stop-word list, so its stop-word check is off unless the overrides give both.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import Field, PrivateAttr, ValidationError, create_model, field_validator

from curation.core.config import StrictModel
from curation.core.errors import CurationError
from curation.filters.heuristics import RULES, Rule


class PresetBase(StrictModel):
    lang: str
    lid_threshold: float = 0.65
    word_tokenizer: str | None = Field(None, description="datatrove word-tokenizer code (default: lang)")
    stopwords: list[str] = Field(default_factory=list)
    _stopword_set: frozenset[str] = PrivateAttr(default=frozenset())

    @field_validator("stopwords", mode="before")
    @classmethod
    def _split_words(cls, v: Any) -> Any:
        """Stop words are written as one space-separated string (YAML would read `no`, `on`, `y` as booleans)."""
        return v.split() if isinstance(v, str) else v

    def model_post_init(self, context: Any) -> None:
        self._stopword_set = frozenset(w.lower() for w in self.stopwords)

    @property
    def tokenizer_code(self) -> str:
        return self.word_tokenizer or self.lang

    @property
    def stopword_set(self) -> frozenset[str]:
        return self._stopword_set

    def settings(self, rule: Rule) -> Any:
        return getattr(self, rule.name)


LanguagePreset = PresetBase  # the type every preset is an instance of (with one field per registered rule)


@cache
def _model(rules: tuple[tuple[str, type], ...]) -> type[PresetBase]:
    fields: dict[str, Any] = {name: (settings, Field(default_factory=settings)) for name, settings in rules}
    return create_model("LanguagePreset", __base__=PresetBase, **fields)


def preset_model() -> type[PresetBase]:
    """The preset model for the rules registered now."""
    return _model(tuple((rule.name, rule.Settings) for rule in RULES))


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _presets_dir() -> Any:
    return resources.files("curation.filters") / "presets"


@cache
def _shipped(lang: str) -> dict[str, Any] | None:
    path = _presets_dir() / f"{lang}.yaml"
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def load_preset(lang: str, overrides: dict[str, Any] | None = None) -> PresetBase:
    """Resolve the preset of ``lang`` (a normalised code)."""
    shipped = _shipped(lang)
    if shipped is not None:
        data = copy.deepcopy(shipped)
    else:  # no stop-word list to count against
        data = {
            rule.name: {"min_stop_words": None}
            for rule in RULES
            if "min_stop_words" in rule.Settings.model_fields
        }
    data = _deep_merge(data, overrides or {})
    data["lang"] = lang
    try:
        return preset_model().model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CurationError(f"invalid preset for '{lang}': presets.{lang}.{where}: {err['msg']}") from None


def shipped_stopwords(lang: str) -> list[str]:
    """The stop words of the preset shipped for ``lang`` (none when no preset is shipped)."""
    return load_preset(lang).stopwords if _shipped(lang) is not None else []
