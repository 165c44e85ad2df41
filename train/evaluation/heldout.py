"""Which parts of the sample data (``../shared/data``) are held out for evaluation: defined once, here.

No training run of this project reads them (the demo, the tests' training runs and the ablation benchmark
take their training text from the rest), so bits per byte and task accuracy on them measure generalisation:

- **prose**: the last ``PROSE[lang][1]`` files by name of each prose folder: 10 works of Machado de Assis
  (``uma-loureira`` ... ``viver``, about 220 KB of Portuguese) and the 6 latest State of the Union addresses
  (``2001-GWBush-2`` ... ``2006-GWBush``, about 170 KB of English);
- **web**: every page of CC-MAIN-BENCH (``bench/pages.jsonl.gz``) whose site is held out. Among the sites
  with at least one page with ``gold_text`` (the expected article body), a site is held out when the first
  8 hex digits of the SHA-1 of its name are even: about half of them (113 of 225 sites, 271 pages), grouped by
  site so that no template or boilerplate of a held-out site is trained on. Their gold article texts are the
  evaluation set, per language with at least ``WEB_GOLD_MIN_PAGES`` pages (English: 109 pages, German: 46);
  the URLs of all their pages are what a training corpus built from the bench must leave out.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from curation.core.errors import CurationError
from curation.core.io import iter_jsonl

# lang -> (prose folder under the data directory, number of files held out: the last ones by name)
PROSE: dict[str, tuple[str, int]] = {
    "pt": ("text/pt/machado_de_assis", 10),
    "en": ("text/en/nltk/state_union", 6),
}
BENCH_PAGES = "bench/pages.jsonl.gz"
WEB_GOLD_MIN_PAGES = 20


def default_data_dir() -> str:
    """``$CURATION_DATA``, else ``../shared/data`` beside the repository."""
    return os.environ.get(
        "CURATION_DATA", str(Path(__file__).resolve().parents[2].parent / "shared" / "data")
    )


def prose_split(data: str | Path, lang: str) -> tuple[list[Path], list[Path]]:
    """(training files, held-out files) of the prose folder of ``lang``."""
    folder, held = PROSE[lang]
    path = Path(data) / folder
    if not path.is_dir():
        raise CurationError(f"sample data not found: {path} (set CURATION_DATA or --data)")
    files = sorted(path.glob("*.txt"))
    if len(files) <= held:
        raise CurationError(f"prose folder {path} has {len(files)} works, want more than {held}")
    return files[:-held], files[-held:]


def site_is_heldout(site: str) -> bool:
    return int(hashlib.sha1(site.encode("utf-8")).hexdigest()[:8], 16) % 2 == 0


@dataclass
class HeldoutWeb:
    """The held-out bench sites, every URL of their pages, and their gold article texts by language."""

    sites: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    gold: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # lang -> [(url, gold_text)]


def heldout_web(data: str | Path) -> HeldoutWeb:
    path = Path(data) / BENCH_PAGES
    if not path.is_file():
        raise CurationError(f"bench pages not found: {path}")
    pages = list(iter_jsonl(str(path)))
    gold_sites = {p["site"] for p in pages if p.get("gold_text")}
    sites = sorted(s for s in gold_sites if site_is_heldout(s))
    held = [p for p in pages if p["site"] in set(sites)]
    gold: dict[str, list[tuple[str, str]]] = {}
    for p in sorted(held, key=lambda p: p["url"]):
        if p.get("gold_text"):
            gold.setdefault(p["truth_lang"], []).append((p["url"], p["gold_text"]))
    gold = {lang: docs for lang, docs in sorted(gold.items()) if len(docs) >= WEB_GOLD_MIN_PAGES}
    return HeldoutWeb(sites, sorted(p["url"] for p in held), gold)


def word_ngrams(text: str, n: int) -> set[int]:
    """Hashes of the lower-cased word ``n``-grams of ``text``."""
    words = text.lower().split()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def ngram_overlap(heldout: list[str], training: list[str], n: int = 13) -> list[float]:
    """Per held-out text, the share of its word ``n``-grams that occur in any training text (13 words, as in
    GPT-3's contamination check): a title line shared by speeches is a few n-grams, a copied passage many."""
    seen: set[int] = set()
    for text in training:
        seen |= word_ngrams(text, n)
    shares = []
    for text in heldout:
        grams = word_ngrams(text, n)
        shares.append(len(grams & seen) / len(grams) if grams else 0.0)
    return shares
