"""Language codes: one normal form everywhere, ISO 639-1 where the language has one, else ISO 639-3.

Users and models write languages many ways (``PT``, ``pt-BR``, ``por``, ``__label__por_Latn``, ``zh-Hans``);
every one of them is normalised here, once, against datatrove's table of 2,000+ ISO 639-3 languages. The
withdrawn ISO 639-1 codes that CLD2 (Common Crawl's ``languages-cld2``) still writes (``iw``, ``jw``, ``in``...)
map to today's codes, so cld2, fastText and ``<html lang>`` can be compared.
"""

from __future__ import annotations

import csv
import re
from functools import cache
from importlib import resources

from curation.core.errors import CurationError

UNDETERMINED = "und"  # BCP-47 / ISO 639-2 code for "language not identified"
_SUBTAG_SPLIT = re.compile(r"[-_]")
# Withdrawn or non-standard primary subtags still written by CLD2 and old markup, and CLD2's "unknown".
_ALIASES = {"iw": "he", "jw": "jv", "in": "id", "ji": "yi", "mo": "ro", "un": UNDETERMINED}


@cache
def _tables() -> tuple[dict[str, str], frozenset[str]]:
    """(ISO 639-3 -> normal code, set of normal codes)."""
    table = resources.files("datatrove") / "assets" / "tokenizer_assignment.csv"
    with table.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    to_normal = {row["code_3"]: row["code_1"] or row["code_3"] for row in rows}
    return to_normal, frozenset(to_normal.values())


def primary_subtag(code: str) -> str:
    """``__label__pt`` -> ``pt``; ``por_Latn`` -> ``por``; ``zh-Hans`` -> ``zh``; ``iw`` -> ``he`` (lower case)."""
    sub = _SUBTAG_SPLIT.split(code.strip().removeprefix("__label__"))[0].lower()
    return _ALIASES.get(sub, sub)


def normalise(code: str) -> str:
    """The normal code of a language code, or the primary subtag itself when the table does not know it
    (for labels from models; use :func:`normalise_target` for codes a user typed)."""
    sub = primary_subtag(code)
    to_normal, _ = _tables()
    return to_normal.get(sub, sub)


def normalise_target(code: str) -> str:
    """A target language as a user wrote it (ISO 639-1, ISO 639-3 or BCP-47, any case) in normal form;
    an unknown code is a user error naming it."""
    sub = primary_subtag(code)
    to_normal, known = _tables()
    if sub in known:
        return sub
    if sub in to_normal:
        return to_normal[sub]
    raise CurationError(
        f"unknown language code '{code}': use ISO 639-1 (pt), ISO 639-3 (por) or BCP-47 (pt-BR)"
    )
