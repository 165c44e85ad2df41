"""C4 line rules (Raffel et al. 2020, as in datatrove): lines with too few words, javascript, policy notices
or citation marks are removed from the text; lorem ipsum and curly brackets flag the whole document.

C4 counts whitespace-separated words per line. In a script written without spaces (zh, ja, th...) a whole line
is one such "word", so every line would go: its character-level variant counts a line's non-space
characters against ``min_chars_per_line`` instead (``unspaced``: the C4 minimum in words times the
language's characters per word)."""

from __future__ import annotations

from typing import Any

from datatrove.pipeline.filters.c4_filters import CITATION_REGEX, POLICY_SUBSTRINGS

from curation.core.config import StrictModel
from curation.filters.heuristics.rule import Check, Document, Rule, safe_div

C4_LINES_REMOVED_RATIO = "c4_lines_removed_ratio"
C4_POLICY_LINES = "c4_policy_lines"
C4_HAS_LOREM_IPSUM = "c4_has_lorem_ipsum"
C4_HAS_CURLY_BRACKET = "c4_has_curly_bracket"


class C4Settings(StrictModel):
    min_words_per_line: int | None = 3
    min_chars_per_line: int | None = None  # the character-level variant, for scripts without spaces
    max_word_length: int | None = 1000
    remove_javascript_lines: bool = True
    remove_policy_lines: bool = True
    remove_citations: bool = True
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = False
    max_lines_removed_ratio: float | None = None


class C4(Rule):
    name = "c4"
    Settings = C4Settings
    signals = {
        C4_LINES_REMOVED_RATIO: "float32",
        C4_POLICY_LINES: "int32",
        C4_HAS_LOREM_IPSUM: "bool",
        C4_HAS_CURLY_BRACKET: "bool",
    }

    def measure(self, doc: Document, s: C4Settings) -> dict[str, Any]:
        """Removes the failing lines from ``doc.text``; counts them over the non-empty lines."""
        kept: list[str] = []
        removed = policy = n_lines = 0
        lorem = curly = False
        for raw in doc.text.splitlines():
            line = raw.strip()
            if not line:
                continue
            n_lines += 1
            words = line.split()
            lower = line.lower()
            lorem = lorem or "lorem ipsum" in lower
            curly = curly or "{" in line
            if s.remove_citations:
                line = CITATION_REGEX.sub("", line)
            if (
                (s.min_words_per_line is not None and len(words) < s.min_words_per_line)
                or (s.min_chars_per_line is not None and sum(map(len, words)) < s.min_chars_per_line)
                or (s.max_word_length is not None and any(len(w) > s.max_word_length for w in words))
                or (s.remove_javascript_lines and "javascript" in lower)
            ):
                removed += 1
                continue
            if s.remove_policy_lines and any(p in lower for p in POLICY_SUBSTRINGS):
                removed += 1
                policy += 1
                continue
            kept.append(line)
        doc.text = "\n".join(kept)
        return {
            C4_LINES_REMOVED_RATIO: safe_div(removed, n_lines),
            C4_POLICY_LINES: policy,
            C4_HAS_LOREM_IPSUM: lorem,
            C4_HAS_CURLY_BRACKET: curly,
        }

    def unspaced(self, settings: C4Settings, chars_per_word: float) -> dict[str, Any]:
        words = settings.min_words_per_line
        return {
            "min_words_per_line": None,
            "max_word_length": None,
            "min_chars_per_line": None if words is None else max(1, round(words * chars_per_word)),
        }

    def checks(self, s: C4Settings) -> list[Check]:
        return [
            Check("c4_lorem_ipsum", C4_HAS_LOREM_IPSUM, "==", 0 if s.drop_lorem_ipsum else None),
            Check("c4_curly_bracket", C4_HAS_CURLY_BRACKET, "==", 0 if s.drop_curly_bracket else None),
            Check(
                "c4_lines_removed_ratio",
                C4_LINES_REMOVED_RATIO,
                "<=",
                s.max_lines_removed_ratio,
                "max_lines_removed_ratio",
            ),
        ]
