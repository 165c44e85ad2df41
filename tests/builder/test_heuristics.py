"""Heuristic rules on real prose, presets turning signals into decisions, and adding a rule in one place."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from curation.core.config import StrictModel
from curation.core.errors import CurationError
from curation.filters import heuristics
from curation.filters.heuristics import Check, Document, Rule
from curation.filters.heuristics.gopher_quality import ALPHA_WORDS_RATIO, MEAN_WORD_LENGTH, STOP_WORDS_COUNT
from curation.filters.heuristics.gopher_repetition import DUP_LINE_FRAC, DUP_PARA_FRAC
from curation.filters.heuristics.presets import load_preset

from .conftest import build, read_docs, stats_of


def _machado(data_dir: Path, n_chars: int = 6000) -> str:
    files = sorted((data_dir / "text" / "pt" / "machado_de_assis").glob("*"))
    text = files[3].read_text(encoding="utf-8")
    start = len(text) // 3
    return text[start : start + n_chars]


def _decide(text: str, preset: Any) -> str | None:
    """The first failing rule's drop reason, as the build's funnel applies them."""
    _, signals = heuristics.measure(text, preset)
    return next((r for rule in heuristics.RULES if (r := rule.reason(signals, preset.settings(rule)))), None)


def test_presets_ship_for_the_required_languages() -> None:
    for lang in ("pt", "es", "fr", "de", "en"):  # a shipped preset has a stop-word list, and counts it
        assert len(load_preset(lang).stopwords) > 50 and load_preset(lang).gopher_quality.min_stop_words == 2
    pt = load_preset("pt")
    assert "não" in pt.stopwords and "no" in pt.stopwords  # YAML must not turn `no` into False
    assert load_preset("en").stopwords[:8] == ["the", "be", "to", "of", "and", "that", "have", "with"]


def test_real_prose_passes_and_its_signals_are_plausible(data_dir: Path) -> None:
    preset = load_preset("pt")
    text = _machado(data_dir)
    _, sig = heuristics.measure(text, preset)
    assert 3.5 < sig[MEAN_WORD_LENGTH] < 6.5
    assert sig[STOP_WORDS_COUNT] > 100
    assert sig[ALPHA_WORDS_RATIO] > 0.8
    assert _decide(text, preset) is None


def test_repeated_text_is_dropped_for_repetition(data_dir: Path) -> None:
    preset = load_preset("pt")
    paragraph = _machado(data_dir, 600)
    assert _decide("\n\n".join([paragraph] * 6), preset) in {DUP_PARA_FRAC, DUP_LINE_FRAC}


def test_gopher_english_stop_words_reject_portuguese_prose(data_dir: Path) -> None:
    """The datatrove trap: Gopher's default (English) stop words applied to Portuguese drop real prose."""
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    text = _machado(data_dir, 1500)
    assert _decide(text, load_preset("pt")) is None
    assert _decide(text, load_preset("pt", {"stopwords": STOP_WORDS})) == "gopher_stop_words"


def test_overrides_change_decisions_without_recomputing(data_dir: Path) -> None:
    text = _machado(data_dir)
    _, sig = heuristics.measure(text, load_preset("pt"))
    quality = next(rule for rule in heuristics.RULES if rule.name == "gopher_quality")
    strict = load_preset("pt", {"gopher_quality": {"min_stop_words": 10_000}})
    off = load_preset("pt", {"gopher_quality": {"min_stop_words": None}})
    assert quality.reason(sig, strict.settings(quality)) == "gopher_stop_words"
    assert quality.reason(sig, off.settings(quality)) is None


def test_unknown_preset_key_is_a_user_error() -> None:
    with pytest.raises(CurationError, match="presets.pt.fineweb.max_lines"):
        load_preset("pt", {"fineweb": {"max_lines": 3}})


def test_a_language_without_a_shipped_preset_keeps_its_clean_prose(data_dir: Path) -> None:
    """Swahili has no preset: the defaults (without a stop-word list) must still keep the UDHR's prose and
    drop the same text when it is repeated."""
    preset = load_preset("sw")
    assert preset.stopwords == [] and preset.gopher_quality.min_stop_words is None
    udhr = (data_dir / "text" / "multi" / "udhr2" / "swh.txt").read_text(encoding="utf-8")
    paragraphs = [p for p in re.split(r"\n\s*\n", udhr) if len(p.split()) >= 20]
    text = "\n\n".join(paragraphs[:12])
    assert len(text.split()) > 300
    assert _decide(text, preset) is None
    assert _decide("\n\n".join([paragraphs[0]] * 8), preset) in {DUP_PARA_FRAC, DUP_LINE_FRAC}


# --- adding a rule: one class, registered; nothing else in the code base changes -------------------------

DIGIT_SHARE = "digit_share"


class DigitShareSettings(StrictModel):
    max_digit_share: float | None = 0.0001


class DigitShare(Rule):
    """A rule defined here, in the test: the share of characters that are digits."""

    name = "digit_share"
    Settings = DigitShareSettings
    signals = {DIGIT_SHARE: "float32"}

    def measure(self, doc: Document, settings: DigitShareSettings) -> dict[str, Any]:
        return {DIGIT_SHARE: sum(c.isdigit() for c in doc.text) / max(len(doc.text), 1)}

    def checks(self, settings: DigitShareSettings) -> list[Check]:
        return [Check("too_many_digits", DIGIT_SHARE, "<=", settings.max_digit_share)]


@pytest.fixture
def digit_rule():
    rule = heuristics.register(DigitShare())
    yield rule
    heuristics.unregister(rule.name)


def test_a_rule_registered_from_a_test_gets_its_column_reason_and_report_entry(
    digit_rule: Rule, tmp_path: Path, warc_dir: Path
) -> None:
    from curation.report.thresholds import preset_thresholds

    out = tmp_path / "b"
    inputs = [str(warc_dir / "pages-dev.warc.gz")]
    build(out, inputs, "de", keep_rejected=True, presets={"de": {"digit_share": {"max_digit_share": 0.002}}})
    stats = stats_of(out)
    funnel = stats["stages"]
    assert list(funnel)[-1] == "digit_share"  # a funnel step, after the shipped rules
    assert funnel["digit_share"]["in"] == funnel["fineweb"]["out"] > 0
    dropped = funnel["digit_share"]["dropped"].get("too_many_digits", 0)
    assert 0 < dropped < funnel["digit_share"]["in"]
    kept, rejected = read_docs(out, "de"), read_docs(out, "rejected")
    assert (kept[DIGIT_SHARE] <= 0.002).all()
    assert (rejected.filter(rejected["drop_reason"] == "too_many_digits")[DIGIT_SHARE] > 0.002).all()
    assert (rejected["drop_reason"] == "too_many_digits").sum() == dropped
    resolved = __import__("yaml").safe_load((out / "_run" / "config.yaml").read_text())["resolved"]
    assert resolved["presets"]["de"]["digit_share"] == {"max_digit_share": 0.002}
    cuts = [t for t in preset_thresholds(resolved) if t.column == DIGIT_SHARE]
    assert [(t.value, t.op, t.label) for t in cuts] == [(0.002, "<=", "de")]
