"""The per-page funnel of `curation build`: a list of steps, each returning a drop reason or None.

``PageFunnel.process`` runs the steps in order and does the counting once for all of them (documents into and
out of each step, drop reasons, seconds per step): preselect (metadata: cld2 record, markup; on the undecoded
page) -> html (decode, size and depth guards) -> preselect_text (quick text + fastText, only for pages the
metadata left undecided) -> extract (trafilatura) -> lid (fastText) -> language_filter -> one step per registered
heuristic rule. A dropped page whose language is a target language is saved to ``rejected/`` with its signals
when ``keep_rejected`` is on.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from curation.builder import extract
from curation.builder.config import BuildConfig
from curation.builder.lid import LanguageIdentifier
from curation.builder.preselect import Decision, metadata_decision, text_decision
from curation.builder.warc import WarcPage
from curation.core.lang import UNDETERMINED
from curation.core.schema import (
    DROP_REASON,
    HTML_LANG,
    LANG,
    LANG_SCORE,
    N_CHARS,
    N_LINES,
    REJECTED_DIR,
    TEXT,
)
from curation.core.stats import Stats
from curation.filters import heuristics
from curation.filters.heuristics.presets import LanguagePreset, load_preset

KEPT_LANGUAGES = "kept_languages"


@contextmanager
def torch_hidden() -> Iterator[None]:
    """Make ``import torch`` fail inside the block, unless torch is already imported.

    The rules' word tokenizers are spaCy blank models (through datatrove); importing spaCy imports thinc, which
    imports torch only to probe for GPU support: about 1.4 s of CPU per worker process that a tokenizer never
    uses. With torch hidden thinc records "no torch" and spaCy loads in about half the time.
    """
    if "torch" in sys.modules:
        yield
        return
    sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if sys.modules.get("torch", 0) is None:
            del sys.modules["torch"]


@dataclass
class Page:
    """What the steps learn about one page."""

    warc: WarcPage
    stats: Stats
    html: str = ""
    metadata_lang: str = UNDETERMINED  # the page's language as its metadata tells (pre-selection)
    check_text: bool = False  # pre-selection left the page to the quick-text check
    text: str = ""
    lang: str = UNDETERMINED
    lang_score: float = 0.0
    preset: LanguagePreset | None = None
    _measured: tuple[str, dict[str, Any]] | None = field(default=None, repr=False)

    @cached_property
    def html_lang(self) -> str:
        return extract.html_lang(self.warc.payload)

    def measured(self) -> tuple[str, dict[str, Any]]:
        """(text after the rules' line edits, every rule's signals plus n_lines), measured once."""
        if self._measured is None:
            assert self.preset is not None
            with self.stats.timed("signals"), torch_hidden():
                cleaned, signals = heuristics.measure(self.text, self.preset)
            signals[N_LINES] = sum(1 for line in self.text.splitlines() if line.strip())
            self._measured = cleaned, signals
        return self._measured


class Preselect:
    """Pre-selection from the page's metadata, before it is decoded (``preselect.metadata_decision``).

    Every page pre-selection sees counts once under ``languages_preselect``: its language as the metadata tells
    (cld2's first language, else the target the markup names), else the quick text's top language (counted by
    ``PreselectText``)."""

    name = "preselect"

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg = cfg

    def __call__(self, page: Page) -> str | None:
        if not self.cfg.preselect.enabled:
            return None
        w = page.warc
        decision, lang = metadata_decision(
            self.cfg.lang, w.cld2, w.content_language, page.html_lang, self.cfg.preselect
        )
        page.stats.count("preselect_decisions", decision.value)
        if lang != UNDETERMINED:
            page.stats.count("languages_preselect", lang)
        page.metadata_lang = lang
        page.check_text = decision is Decision.CHECK_TEXT
        return "preselect_other_language" if decision is Decision.SKIP else None


class DecodeHtml:
    name = "html"

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg = cfg.extract

    def __call__(self, page: Page) -> str | None:
        page.html = extract.decode_html(page.warc.payload, page.warc.content_type)
        if len(page.html) > self.cfg.max_html_chars:
            return "html_too_large"
        if extract.html_depth(page.html) > self.cfg.max_html_depth:
            return "html_too_deep"
        return None


class PreselectText:
    """Pre-selection of the pages the metadata left undecided: fastText on a quick text rendering."""

    name = "preselect_text"

    def __init__(self, cfg: BuildConfig, lid: LanguageIdentifier) -> None:
        self.cfg, self.lid = cfg, lid

    def __call__(self, page: Page) -> str | None:
        if not page.check_text:
            return None
        try:
            quick = extract.quick_text(page.html, self.cfg.preselect.max_chars)
        except Exception:  # noqa: BLE001 - unparseable markup: let trafilatura decide
            reason, top = None, UNDETERMINED
        else:
            reason, top = text_decision(self.cfg.lang, quick, self.lid, self.cfg.preselect)
        if page.metadata_lang == UNDETERMINED:
            page.stats.count("languages_preselect", top)
        return reason


class Extract:
    name = "extract"

    def __init__(self, cfg: BuildConfig) -> None:
        self.cfg = cfg.extract

    def __call__(self, page: Page) -> str | None:
        try:
            text = extract.extract_main_text(page.html, page.warc.url, self.cfg)
        except extract.ExtractTimeout:
            return "extract_timeout"
        except RecursionError:
            return "html_too_deep"
        except Exception as exc:  # noqa: BLE001 - a broken page is counted, not fatal
            return f"extract_error:{type(exc).__name__}"
        if not text or not text.strip():
            return "no_text"
        page.text = text
        return None


class Identify:
    name = "lid"

    def __init__(self, lid: LanguageIdentifier) -> None:
        self.lid = lid

    def __call__(self, page: Page) -> str | None:
        page.lang, page.lang_score = self.lid.top(page.text)
        page.stats.count("languages", page.lang)
        return None


class LanguageFilter:
    name = "language_filter"

    def __init__(self, cfg: BuildConfig) -> None:
        self.presets = {lang: load_preset(lang, cfg.presets.get(lang)) for lang in cfg.lang}

    def __call__(self, page: Page) -> str | None:
        page.preset = self.presets.get(page.lang)
        if page.preset is None:
            return "other_language"
        return "low_lang_score" if page.lang_score < page.preset.lid_threshold else None


class RuleStep:
    """One registered heuristic rule as a funnel step."""

    def __init__(self, rule: heuristics.Rule) -> None:
        self.rule, self.name = rule, rule.name

    def __call__(self, page: Page) -> str | None:
        assert page.preset is not None
        return self.rule.reason(page.measured()[1], page.preset.settings(self.rule))


class PageFunnel:
    """Runs the steps over pages and counts what each step kept and dropped."""

    def __init__(self, cfg: BuildConfig, stats: Stats) -> None:
        self.cfg, self.stats = cfg, stats
        lid = LanguageIdentifier(cfg.lid_model)
        self.steps = [
            Preselect(cfg),
            DecodeHtml(cfg),
            PreselectText(cfg, lid),
            Extract(cfg),
            Identify(lid),
            LanguageFilter(cfg),
            *(RuleStep(rule) for rule in heuristics.RULES),
        ]

    def process(self, warc_page: WarcPage, base: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(output folder, row) of a kept page, or of a dropped one that is saved; else None."""
        st = self.stats
        page = Page(warc_page, st)
        for step in self.steps:
            st.seen(step.name)
            with st.timed(step.name):
                reason = step(page)
            if reason:
                st.dropped(step.name, reason)
                return self._rejected(page, base, reason)
            st.kept(step.name)
        st.count(KEPT_LANGUAGES, page.lang)
        cleaned, signals = page.measured()
        return page.lang, self._row(page, base, signals, cleaned)

    def screen(self, warc_page: WarcPage) -> tuple[str, str] | None:
        """(step, drop reason) of the first step before extraction that refuses the page, else None: what
        pre-selection and the html guards decide, without extracting (the funnel's in/out counts are not
        updated; used to measure pre-selection recall)."""
        page = Page(warc_page, self.stats)
        for step in self.steps:
            if isinstance(step, Extract):
                return None
            reason = step(page)
            if reason:
                return step.name, reason
        return None

    def _row(self, page: Page, base: dict[str, Any], signals: dict[str, Any], text: str) -> dict[str, Any]:
        row = {**base, HTML_LANG: page.html_lang, LANG: page.lang, LANG_SCORE: page.lang_score}
        return {**row, **signals, TEXT: text, N_CHARS: len(text)}

    def _rejected(self, page: Page, base: dict[str, Any], reason: str) -> tuple[str, dict[str, Any]] | None:
        if not self.cfg.keep_rejected or page.preset is None:
            return None
        row = self._row(page, base, page.measured()[1], page.text)
        return REJECTED_DIR, {**row, DROP_REASON: reason}


def step_names() -> list[str]:
    """The funnel's stages in order, with the WARC reader's first."""
    return [
        "warc",
        Preselect.name,
        DecodeHtml.name,
        PreselectText.name,
        Extract.name,
        Identify.name,
        LanguageFilter.name,
    ] + [rule.name for rule in heuristics.RULES]
