"""FineWeb's own rules (Penedo et al. 2024, as in datatrove), on the text after the C4 line rules: lines
ending in terminal punctuation, short lines, duplicated line characters, newlines per word."""

from __future__ import annotations

from typing import Any

from datatrove.pipeline.filters.gopher_repetition_filter import find_duplicates
from datatrove.utils.text import TERMINAL_PUNCTUATION

from curation.core.config import StrictModel
from curation.filters.heuristics.rule import Check, Document, Rule, safe_div

LINE_PUNCT_RATIO = "line_punct_ratio"
SHORT_LINE_RATIO = "short_line_ratio"
CHAR_DUP_RATIO = "char_dup_ratio"
NEWLINE_RATIO = "newline_ratio"
_STOP_CHARS = tuple(TERMINAL_PUNCTUATION)


class FineWebSettings(StrictModel):
    min_line_punct_ratio: float | None = 0.12
    max_short_line_ratio: float | None = 0.67
    short_line_length: int = 30
    max_char_dup_ratio: float | None = 0.01
    max_newline_ratio: float | None = 0.3


class FineWeb(Rule):
    name = "fineweb"
    Settings = FineWebSettings
    signals = dict.fromkeys((LINE_PUNCT_RATIO, SHORT_LINE_RATIO, CHAR_DUP_RATIO, NEWLINE_RATIO), "float32")

    def measure(self, doc: Document, s: FineWebSettings) -> dict[str, Any]:
        text = doc.text
        lines = [line for line in text.split("\n") if line.strip()]
        n_lines = len(lines)
        return {
            LINE_PUNCT_RATIO: safe_div(sum(line.endswith(_STOP_CHARS) for line in lines), n_lines),
            SHORT_LINE_RATIO: safe_div(sum(len(line) <= s.short_line_length for line in lines), n_lines),
            CHAR_DUP_RATIO: safe_div(find_duplicates(lines)[1], len(text.replace("\n", ""))),
            NEWLINE_RATIO: safe_div(text.count("\n"), len(doc.words)),
        }

    def checks(self, f: FineWebSettings) -> list[Check]:
        return [
            Check(
                "fineweb_line_punct_ratio",
                LINE_PUNCT_RATIO,
                ">=",
                f.min_line_punct_ratio,
                "min_line_punct_ratio",
            ),
            Check(
                "fineweb_short_line_ratio",
                SHORT_LINE_RATIO,
                "<=",
                f.max_short_line_ratio,
                "max_short_line_ratio",
            ),
            Check("fineweb_char_dup_ratio", CHAR_DUP_RATIO, "<=", f.max_char_dup_ratio, "max_char_dup_ratio"),
            Check("fineweb_newline_ratio", NEWLINE_RATIO, "<=", f.max_newline_ratio, "max_newline_ratio"),
        ]
