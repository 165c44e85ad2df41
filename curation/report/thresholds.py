"""Where the decisions are: filter-signal thresholds from a build's resolved language presets, and score
cut-offs from the row filters written in any stage's config (``--where "edu_score >= 3"``, mixture filters)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from curation.core.schema import LANG_SCORE

_COMPARISON = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|>|<|==)\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True)
class Threshold:
    """A cut on one column: documents with values on the wrong side of ``value`` are dropped (or not kept)."""

    column: str
    value: float
    op: str  # the comparison a kept document satisfies: ">=", "<=", ">", "<", "=="
    label: str  # who set it: a language or a config key


def preset_thresholds(resolved: dict[str, Any]) -> list[Threshold]:
    """The cuts of every target language of a build, from the presets its run resolved (``resolved.presets``
    of its config.yaml) through the registered rules' checks; switched-off checks and flags are skipped."""
    from pydantic import ValidationError

    from curation.filters.heuristics import RULES
    from curation.filters.heuristics.presets import preset_model

    out = []
    for lang, values in (resolved.get("presets") or {}).items():
        try:
            preset = preset_model().model_validate(values)
        except ValidationError:
            continue  # written with other rules registered: report what we can
        out.append(Threshold(LANG_SCORE, preset.lid_threshold, ">=", str(lang)))
        out += [
            Threshold(c.column, float(c.limit), c.keep, str(lang))
            for rule in RULES
            for c in rule.checks(preset.settings(rule))
            if c.limit is not None and c.keep != "=="
        ]
    return out


def _strings(obj: Any, key: str = "") -> Iterable[tuple[str, str]]:
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{key}.{k}" if key else str(k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{key}[{i}]")
    elif isinstance(obj, str):
        yield key, obj


def where_thresholds(config: dict[str, Any]) -> list[Threshold]:
    """``column <op> number`` comparisons in any string of a config (row filters, mixture source filters),
    labelled with the config key that holds them."""
    return [
        Threshold(column, float(value), op, key)
        for key, text in _strings(config)
        for column, op, value in _COMPARISON.findall(text)
    ]


def merge_thresholds(items: Iterable[Threshold]) -> dict[str, list[Threshold]]:
    """Per column, one threshold per distinct (value, op); labels of equal cuts are joined."""
    grouped: dict[str, dict[tuple[float, str], list[str]]] = {}
    for t in items:
        labels = grouped.setdefault(t.column, {}).setdefault((t.value, t.op), [])
        if t.label not in labels:
            labels.append(t.label)
    return {
        col: [Threshold(col, value, op, ", ".join(labels)) for (value, op), labels in cuts.items()]
        for col, cuts in grouped.items()
    }
