"""A heuristic filter is one ``Rule``: its signal columns, its settings (thresholds with their defaults), how
it measures a document, and the checks that turn signals into a drop reason.

Signals are written as columns whatever the decision, so thresholds can be re-tuned from the Parquet files
without a re-crawl; the checks say which column a threshold cuts, in which direction, and under which drop
reason, which is also what the run report draws. A rule reads the document's current text and words and may
edit its lines (C4); rules run in registration order, and the first failing check names the drop reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from curation.core.config import StrictModel

if TYPE_CHECKING:
    from curation.filters.heuristics.presets import LanguagePreset


@dataclass(frozen=True)
class Check:
    """A kept document satisfies ``signal <keep> limit``; ``limit`` None switches the check off.

    ``setting`` names the settings key that holds the limit (``top_ngram_char_frac.2`` for a key inside a
    mapping), so that ``curation presets fit`` can write a limit fitted on reference text back into a preset;
    ``fit`` False keeps the rule's limit there (limits that are not a property of the language, such as the
    document length).
    """

    reason: str
    column: str
    keep: str
    limit: float | None
    setting: str | None = None
    fit: bool = True

    def fails(self, value: float) -> bool:
        if self.limit is None:
            return False
        if self.keep == ">=":
            return value < self.limit
        if self.keep == "<=":
            return value > self.limit
        return value != self.limit


class Document:
    """A document being measured: its current text (rules may remove lines), words of that text (the
    language's word tokenizer, computed once per text), and the language preset."""

    def __init__(self, text: str, preset: LanguagePreset) -> None:
        self.text = text
        self.preset = preset
        self._words: list[str] = []
        self._words_of: str | None = None

    @property
    def words(self) -> list[str]:
        from curation.filters.heuristics.words import split_words

        # by value: C4 rebuilds the text even when it removes no line, and tokenizing twice costs the most
        if self._words_of is None or (self._words_of is not self.text and self._words_of != self.text):
            self._words, self._words_of = split_words(self.text, self.preset.tokenizer_code), self.text
        return self._words


class Rule:
    """Subclass with ``name`` (funnel stage and preset section), ``Settings``, ``signals`` (column -> Arrow
    type name), ``measure`` and ``checks``; register it in ``curation.filters.heuristics``."""

    name: ClassVar[str]
    Settings: ClassVar[type[StrictModel]]
    signals: ClassVar[dict[str, str]]

    def measure(self, doc: Document, settings: Any) -> dict[str, Any]:
        raise NotImplementedError

    def checks(self, settings: Any) -> list[Check]:
        raise NotImplementedError

    def unspaced(self, settings: Any, chars_per_word: float) -> dict[str, Any]:
        """Settings overrides for a language written without spaces between words, whose words average
        ``chars_per_word`` characters (the character-level variant of a rule that counts whitespace tokens);
        none by default."""
        return {}

    def reason(self, signals: Mapping[str, Any], settings: Any) -> str | None:
        """The first failing check's drop reason, else None."""
        return next((c.reason for c in self.checks(settings) if c.fails(signals[c.column])), None)


def safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0
