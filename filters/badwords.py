"""Bad-word signal from LDNOOBW-style word lists: match count and share of the text, per document.

Lists are plain text files, one entry per line, named by language (``pt.txt``, ``pt``, ``fr-CA-...``); a
directory is searched recursively, so the LDNOOBW v1 repository, v2's ``data/`` folder or a parent holding
both all work, and lists for the same language are merged. Matching is case-insensitive and word-boundary
aware (entries are literal: ``*`` in ``b*tch`` is the obfuscation, not a wildcard; one-letter entries of
spaced languages, such as ``f`` and ``i`` in v2's English list, are ignored). Languages written without
spaces (zh, ja, th...) match entries as substrings. ``badword_ratio`` is matched words / words for
spaced scripts and matched characters / non-space characters for the others.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from curation.core import io
from curation.core.errors import CurationError

UNSPACED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "dz"})
_LIST_NAME = re.compile(r"^([a-z]{2,3})(?:[-_][A-Za-z0-9-]+)?(?:\.txt)?$")
MIN_SPACED_ENTRY_CHARS = 2
_WORD = re.compile(r"\w+")
_NON_SPACE = re.compile(r"\S")


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of ``words`` factored as a character trie (fast with thousands of entries)."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node: dict) -> str:
        end = "" in node
        branches = [re.escape(ch) + walk(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body

    return walk(trie)


def compile_matcher(entries: Iterable[str], spaced: bool) -> re.Pattern[str] | None:
    """One case-folded regex for a language's entries (whole words when ``spaced``); None if empty."""
    words = {e.strip().casefold() for e in entries}
    words = {w for w in words if len(w) >= (MIN_SPACED_ENTRY_CHARS if spaced else 1)}
    if not words:
        return None
    body = f"(?:{_trie_pattern(words)})"
    return re.compile(rf"(?<!\w){body}(?!\w)" if spaced else body)


def read_lists(directories: Sequence[str | Path]) -> dict[str, list[str]]:
    """Entries per language code from every list file found under ``directories``."""
    lists: dict[str, list[str]] = defaultdict(list)
    for directory in directories:
        root = Path(io.local_mirror(str(directory))) if io.is_dir(str(directory)) else Path(directory)
        if not root.is_dir():
            raise CurationError(f"bad-word list directory not found: {directory}")
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            match = _LIST_NAME.match(path.name)
            if match:
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                lists[match.group(1)].extend(line for line in lines if line.strip())
    if not lists:
        raise CurationError(
            f"no bad-word lists (files named like pt.txt) under: {', '.join(map(str, directories))}"
        )
    return dict(lists)


class BadWords:
    """Counts bad-word matches per document for the languages that have a list."""

    def __init__(self, lists: dict[str, list[str]]) -> None:
        self.languages = sorted(lists)
        self._entries = lists
        self._matchers: dict[str, re.Pattern[str] | None] = {}

    @classmethod
    def from_dirs(cls, directories: Sequence[str | Path]) -> BadWords:
        return cls(read_lists(directories))

    def _matcher(self, lang: str) -> re.Pattern[str] | None:
        if lang not in self._matchers:
            self._matchers[lang] = compile_matcher(self._entries.get(lang, ()), lang not in UNSPACED_LANGS)
        return self._matchers[lang]

    def measure(self, text: str, lang: str) -> tuple[int | None, float | None]:
        """(match count, ratio) of one text; (None, None) when ``lang`` has no list."""
        base = (lang or "").split("-")[0].split("_")[0].lower()
        if base not in self._entries:
            return None, None
        matcher = self._matcher(base)
        folded = text.casefold()
        matches = list(matcher.finditer(folded)) if matcher else []
        if base in UNSPACED_LANGS:
            total = len(_NON_SPACE.findall(folded))
            hit = sum(len(_NON_SPACE.findall(m.group())) for m in matches)
        else:
            total = len(_WORD.findall(folded))
            hit = sum(max(1, len(_WORD.findall(m.group()))) for m in matches)
        return len(matches), (hit / total if total else 0.0)

    def measure_many(self, texts: Sequence[str], langs: Sequence[str]) -> tuple[list, list]:
        """Counts and ratios of many texts (lists aligned with ``texts``)."""
        pairs = [self.measure(text or "", lang) for text, lang in zip(texts, langs, strict=True)]
        return [p[0] for p in pairs], [p[1] for p in pairs]
