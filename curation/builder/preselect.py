"""Language pre-selection: decide from cheap signals whether a page can be in the target language at all.

Two decisions, cheapest first (``PreselectConfig`` says which signals count):

1. ``metadata_decision``, on the undecoded page: Common Crawl's ``languages-cld2`` record listing a target,
   or ``Content-Language`` / ``<html lang>`` naming one, passes the page; a reliable record that saw enough text
   and lists only languages unrelated to every target skips it (the page is never decoded). Anything else
   (no record, no language, unreliable, little text, a language confusable with a target) is undecided.
2. ``text_decision``, for undecided pages: fastText on a quick plain-text rendering, a target within its
   top-k guesses at a low probability passes the page.

With several target languages a page passes if any of them is plausible. Deliberately permissive: a page skips
extraction only when every signal it has points elsewhere.
"""

from __future__ import annotations

import re
from enum import Enum

from curation.builder.config import PreselectConfig
from curation.builder.lid import LanguageIdentifier
from curation.builder.warc import Cld2Languages
from curation.core.lang import UNDETERMINED, normalise

_SPLIT = re.compile(r"[,;\s]+")


class Decision(Enum):
    PASS = "pass"
    SKIP = "skip"
    CHECK_TEXT = "check_text"


def _codes(value: str) -> set[str]:
    return {normalise(tag) for tag in _SPLIT.split(value) if tag}


def metadata_decision(
    targets: list[str],
    cld2: Cld2Languages | None,
    content_language: str,
    html_lang: str,
    cfg: PreselectConfig,
) -> tuple[Decision, str]:
    """What the page's metadata alone says about the ``targets`` (a page passes if any target is plausible),
    and the page's language as far as the metadata tells (cld2's first language, else the target the markup
    names, else ``und``)."""
    use_cld2 = cfg.cld2 and cld2 is not None
    listed = cld2.languages if use_cld2 else ()
    first = listed[0] if listed else UNDETERMINED
    if any(t in listed for t in targets):
        return Decision.PASS, first
    if cfg.trust_markup:
        named = _codes(content_language) | _codes(html_lang)
        hit = next((t for t in targets if t in named), None)
        if hit is not None:
            return Decision.PASS, listed[0] if listed else hit
    confusable = {c for t in targets for c in cfg.confusable.get(t, ())}
    if (
        listed
        and cld2.reliable
        and cld2.text_bytes >= cfg.cld2_min_text_bytes
        and not confusable & set(listed)
    ):
        return Decision.SKIP, first
    return Decision.CHECK_TEXT, first


def text_decision(
    targets: list[str], quick: str, lid: LanguageIdentifier, cfg: PreselectConfig
) -> tuple[str | None, str]:
    """(None if the quick text may be in any of ``targets``, else the drop reason; its top language)."""
    guesses = lid.predict(quick, k=cfg.lid_top_k) if quick.strip() else []
    if not guesses:
        return "preselect_no_text", UNDETERMINED
    if any(code in targets and prob >= cfg.min_target_prob for code, prob in guesses):
        return None, guesses[0][0]
    return "preselect_text_other_language", guesses[0][0]
