"""Heuristic filters, one ``Rule`` per module, applied in the order of ``RULES``.

Adding a rule: write a ``Rule`` subclass (signals, settings with defaults, measure, checks) and register it;
its columns join the build's schema, its settings the language presets (``presets.<lang>.<rule name>``), its
drop reasons the funnel, and its checks the report's threshold lines. Per-language values go in
``curation/filters/presets/<lang>.yaml``.
"""

from __future__ import annotations

from typing import Any

from curation.filters.heuristics.c4 import C4
from curation.filters.heuristics.fineweb import FineWeb
from curation.filters.heuristics.gopher_quality import GopherQuality
from curation.filters.heuristics.gopher_repetition import GopherRepetition
from curation.filters.heuristics.rule import Check, Document, Rule

RULES: list[Rule] = [GopherRepetition(), GopherQuality(), C4(), FineWeb()]


def register(rule: Rule) -> Rule:
    """Add ``rule`` after the registered ones (a rule of the same name is replaced in place)."""
    names = [r.name for r in RULES]
    if rule.name in names:
        RULES[names.index(rule.name)] = rule
    else:
        RULES.append(rule)
    return rule


def unregister(name: str) -> None:
    RULES[:] = [r for r in RULES if r.name != name]


def measure(text: str, preset: Any) -> tuple[str, dict[str, Any]]:
    """Every registered rule's signals of ``text`` under a language preset, and the text the rules left
    (the C4 line rules remove lines)."""
    doc = Document(text, preset)
    signals: dict[str, Any] = {}
    for rule in RULES:
        signals.update(rule.measure(doc, preset.settings(rule)))
    return doc.text, signals


def signal_types() -> dict[str, str]:
    """Every registered rule's signal columns and Arrow types, in rule order."""
    return {col: kind for rule in RULES for col, kind in rule.signals.items()}


__all__ = ["RULES", "Check", "Document", "Rule", "measure", "register", "signal_types", "unregister"]
