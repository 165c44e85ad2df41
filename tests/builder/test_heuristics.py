"""Heuristic signals on real prose, and presets turning them into decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation.core import schema as S
from curation.builder.pipeline import document_signals
from curation.core.errors import CurationError
from curation.filters.heuristics.presets import load_preset, shipped_languages
from curation.filters import rules as R


def _machado(data_dir: Path, n_chars: int = 6000) -> str:
    files = sorted((data_dir / "text" / "pt" / "machado_de_assis").glob("*"))
    text = files[3].read_text(encoding="utf-8")
    start = len(text) // 3
    return text[start : start + n_chars]


def _decide(text: str, preset) -> str | None:  # noqa: ANN001
    _, sig = document_signals(text, preset)
    for _, rule in (
        ("r", R.gopher_repetition_reason),
        ("q", R.gopher_quality_reason),
        ("c", R.c4_reason),
        ("f", R.fineweb_reason),
    ):
        reason = rule(sig, preset)
        if reason:
            return reason
    return None


def test_presets_ship_for_the_required_languages() -> None:
    assert {"pt", "es", "fr", "de", "en"} <= set(shipped_languages())
    pt = load_preset("pt")
    assert "não" in pt.stopwords and "no" in pt.stopwords  # YAML must not turn `no` into False
    assert load_preset("en").stopwords[:8] == ["the", "be", "to", "of", "and", "that", "have", "with"]


def test_real_prose_passes_and_its_signals_are_plausible(data_dir: Path) -> None:
    preset = load_preset("pt")
    text = _machado(data_dir)
    _, sig = document_signals(text, preset)
    assert 3.5 < sig[S.MEAN_WORD_LENGTH] < 6.5
    assert sig[S.STOP_WORDS_COUNT] > 100
    assert sig[S.ALPHA_WORDS_RATIO] > 0.8
    assert _decide(text, preset) is None


def test_repeated_text_is_dropped_for_repetition(data_dir: Path) -> None:
    preset = load_preset("pt")
    paragraph = _machado(data_dir, 600)
    reason = _decide("\n\n".join([paragraph] * 6), preset)
    assert reason in {S.DUP_PARA_FRAC, S.DUP_LINE_FRAC}


def test_gopher_english_stop_words_reject_portuguese_prose(data_dir: Path) -> None:
    """The datatrove trap: Gopher's default (English) stop words applied to Portuguese drop real prose."""
    from datatrove.pipeline.filters.gopher_quality_filter import STOP_WORDS

    text = _machado(data_dir, 1500)
    assert _decide(text, load_preset("pt")) is None
    assert _decide(text, load_preset("pt", {"stopwords": STOP_WORDS})) == "gopher_stop_words"


def test_overrides_change_decisions_without_recomputing(data_dir: Path) -> None:
    text = _machado(data_dir)
    _, sig = document_signals(text, load_preset("pt"))
    strict = load_preset("pt", {"gopher_quality": {"min_stop_words": 10_000}})
    off = load_preset("pt", {"gopher_quality": {"min_stop_words": None}})
    assert R.gopher_quality_reason(sig, strict) == "gopher_stop_words"
    assert R.gopher_quality_reason(sig, off) is None


def test_unknown_preset_key_is_a_user_error() -> None:
    with pytest.raises(CurationError, match="presets.pt.fineweb.max_lines"):
        load_preset("pt", {"fineweb": {"max_lines": 3}})


def test_language_without_a_shipped_preset_still_works() -> None:
    preset = load_preset("sw")
    assert preset.stopwords == [] and preset.gopher_quality.min_stop_words is None
