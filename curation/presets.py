"""Per-language filter presets (FineWeb-2 style): LID threshold, stop words, heuristic thresholds.

Resolution order: ``presets/_default.yaml`` <- ``presets/<lang>.yaml`` (if shipped) <- the corpus config's
``presets.<lang>`` overrides. Every threshold may be ``null`` to switch that rule off.
"""

from __future__ import annotations

import copy
from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from curation.errors import CurationError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GopherQuality(_Strict):
    min_doc_words: int | None
    max_doc_words: int | None
    min_avg_word_length: float | None
    max_avg_word_length: float | None
    max_symbol_word_ratio: float | None
    max_bullet_lines_ratio: float | None
    max_ellipsis_lines_ratio: float | None
    min_alpha_words_ratio: float | None
    min_stop_words: int | None


class GopherRepetition(_Strict):
    dup_line_frac: float | None
    dup_para_frac: float | None
    dup_line_char_frac: float | None
    dup_para_char_frac: float | None
    top_ngram_char_frac: dict[int, float | None]
    dup_ngram_char_frac: dict[int, float | None]


class C4(_Strict):
    min_words_per_line: int
    max_word_length: int
    remove_javascript_lines: bool
    remove_policy_lines: bool
    remove_citations: bool
    drop_lorem_ipsum: bool
    drop_curly_bracket: bool
    max_lines_removed_ratio: float | None


class FineWeb(_Strict):
    min_line_punct_ratio: float | None
    max_short_line_ratio: float | None
    short_line_length: int
    max_char_dup_ratio: float | None
    max_newline_ratio: float | None


class LanguagePreset(_Strict):
    lang: str
    lid_threshold: float
    word_tokenizer: str | None
    stopwords: list[str]
    gopher_quality: GopherQuality
    gopher_repetition: GopherRepetition
    c4: C4
    fineweb: FineWeb

    @field_validator("stopwords", mode="before")
    @classmethod
    def _split_words(cls, v: Any) -> Any:
        """Stop words are written as one space-separated string (YAML would read `no`, `on`, `y` as booleans)."""
        return v.split() if isinstance(v, str) else v

    @property
    def tokenizer_code(self) -> str:
        return self.word_tokenizer or self.lang


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@cache
def _shipped(name: str) -> dict[str, Any] | None:
    path = resources.files("curation") / "presets" / f"{name}.yaml"
    if not path.is_file():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8")) or {}


def shipped_languages() -> list[str]:
    folder = resources.files("curation") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml") and p.name[0] != "_")


def load_preset(lang: str, overrides: dict[str, Any] | None = None) -> LanguagePreset:
    """Resolve the preset for ``lang``; a language without a shipped file gets the defaults without stop-word
    requirement (there is no list to count against) unless the overrides provide one."""
    data = _deep_merge(_shipped("_default") or {}, _shipped(lang) or {})
    if _shipped(lang) is None:
        data["gopher_quality"]["min_stop_words"] = None
    data = _deep_merge(data, overrides or {})
    data["lang"] = lang
    try:
        return LanguagePreset.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CurationError(f"invalid preset for '{lang}': presets.{lang}.{where}: {err['msg']}") from None
