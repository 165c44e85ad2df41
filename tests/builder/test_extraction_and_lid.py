"""Extraction quality against the gold of the bench pages and LID on the UDHR, both real data."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from resiliparse.extract.html2text import extract_plain_text

from curation.builder.extract import ExtractConfig, decode_html, extract_main_text
from curation.builder.lid import LanguageIdentifier
from curation.builder.warc import WarcReader
from curation.core.lang import normalise as normalise_label
from curation.core.stats import Stats

_WORD = re.compile(r"\w+")
_SPACE = re.compile(r"\s+")


def _full_gold_text(row: dict) -> bool:
    """The page has an expected text of its whole body (goose3's gold is only a prefix of it)."""
    return bool(row.get("gold_text")) and "prefix" not in row.get("gold_text_kind", "").lower()


def _gold_pages(data_dir: Path) -> list[tuple[dict, str]]:
    """(label row, decoded HTML) of every bench page with extraction gold (snippets or the expected text)."""
    bench = data_dir / "bench"
    with gzip.open(bench / "pages.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    gold = {
        r["record_id"].strip("<>").removeprefix("urn:uuid:"): r
        for r in rows
        if r.get("gold_with") or _full_gold_text(r)
    }
    pages = []
    for path in sorted(bench.glob("*.warc.gz")):
        with path.open("rb") as f:
            for page in WarcReader(f, str(path), Stats(), 1 << 30):
                if page.record_id in gold:
                    pages.append((gold[page.record_id], decode_html(page.payload, page.content_type)))
    return pages


def _scores(pages: list[tuple[dict, str]], extract: Callable[[str, str], str | None]) -> dict[str, float]:
    """Snippets of ``gold_with`` found, of ``gold_without`` avoided, and word F1 against ``gold_text``."""
    found, avoided, f1s = [], [], []
    for row, html in pages:
        text = _SPACE.sub(" ", extract(html, row["url"]) or "")
        found += [_SPACE.sub(" ", s).strip() in text for s in row.get("gold_with") or []]
        avoided += [_SPACE.sub(" ", s).strip() not in text for s in row.get("gold_without") or []]
        if _full_gold_text(row):
            got, want = Counter(_WORD.findall(text.lower())), Counter(_WORD.findall(row["gold_text"].lower()))
            overlap = sum((got & want).values())
            p, r = overlap / max(sum(got.values()), 1), overlap / max(sum(want.values()), 1)
            f1s.append(2 * p * r / (p + r) if p + r else 0.0)
    assert len(found) > 500 and len(avoided) > 500 and len(f1s) > 150
    return {
        "with_found": sum(found) / len(found),
        "without_avoided": sum(avoided) / len(avoided),
        "gold_text_f1": sum(f1s) / len(f1s),
    }


@pytest.mark.slow
def test_extraction_against_gold_on_bench_pages(data_dir: Path) -> None:
    """Our default trafilatura settings against the bench gold (trafilatura's eval snippets, readability /
    fundus / newspaper expected texts), beside a whole-page rendering that removes no boilerplate: main-text
    extraction must keep the body and drop what the gold marks as boilerplate."""
    pages = _gold_pages(data_dir)
    ours = _scores(pages, lambda html, url: extract_main_text(html, url, ExtractConfig(timeout_seconds=600)))
    whole = _scores(pages, lambda html, url: extract_plain_text(html, main_content=False))
    print(json.dumps({"ours": ours, "whole page": whole}, indent=1))
    assert ours["with_found"] >= 0.85
    assert ours["without_avoided"] >= 0.75
    assert ours["without_avoided"] >= whole["without_avoided"] + 0.3
    assert ours["gold_text_f1"] >= 0.8
    assert ours["gold_text_f1"] >= whole["gold_text_f1"] + 0.1


UDHR = {
    "pt": ["por_BR.txt", "por_PT.txt"],
    "es": ["spa.txt"],
    "fr": ["fra.txt"],
    "de": ["deu.txt"],
    "en": ["eng.txt"],
}


@pytest.mark.parametrize("lang", sorted(UDHR))
def test_lid_on_udhr_for_preset_languages(data_dir: Path, lang: str) -> None:
    lid = LanguageIdentifier()
    for name in UDHR[lang]:
        text = (data_dir / "text" / "multi" / "udhr2" / name).read_text(encoding="utf-8")
        paragraphs = [p for p in text.split("\n") if len(p) > 200][:20]
        assert len(paragraphs) >= 5
        hits = [lid.top(p)[0] == lang for p in paragraphs]
        assert sum(hits) / len(hits) >= 0.9, (name, hits)
        code, score = lid.top(text)
        assert code == lang and score > 0.9


def test_labels_are_normalised_to_iso() -> None:
    assert normalise_label("__label__pt") == "pt"
    assert normalise_label("__label__por_Latn") == "pt"
    assert normalise_label("__label__deu_Latn") == "de"
    assert normalise_label("__label__zh-Hans") == "zh"
    assert normalise_label("__label__ceb") == "ceb"  # no ISO 639-1 code: keep 639-3
    assert normalise_label("__label__als") == "sq"  # an individual language folds into its macrolanguage
