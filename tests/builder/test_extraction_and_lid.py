"""Extraction quality on trafilatura's evaluation pages and LID on the UDHR, both real data."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

import pytest

from curation.builder.extract import ExtractConfig, decode_html, extract_main_text
from curation.builder.lid import LanguageIdentifier
from curation.core.lang import normalise as normalise_label


def _snippet_scores(data_dir: Path, extract) -> dict[str, list[int]]:  # noqa: ANN001
    """Per language: [with found, with total, without avoided, without total]."""
    base = data_dir / "html_extraction" / "trafilatura_eval"
    pages = json.loads((base / "evaldata.json").read_text())
    scores: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for url, page in pages.items():
        html = decode_html(gzip.decompress((base / "html" / f"{page['file']}.gz").read_bytes()))
        text = extract(html, url) or ""
        for lang in ("all", page.get("lang_fasttext") or "und"):
            s = scores[lang]
            s[0] += sum(snippet in text for snippet in page.get("with", []))
            s[1] += len(page.get("with", []))
            s[2] += sum(snippet not in text for snippet in page.get("without", []))
            s[3] += len(page.get("without", []))
    return scores


def _share(s: list[int]) -> float:
    return (s[0] + s[2]) / (s[1] + s[3])


@pytest.mark.slow
def test_extraction_is_at_least_as_good_as_plain_trafilatura(data_dir: Path) -> None:
    from trafilatura import extract

    ours = _snippet_scores(data_dir, lambda html, url: extract_main_text(html, url, ExtractConfig()))
    plain = _snippet_scores(data_dir, lambda html, url: extract(html, url=url))
    report = {
        lang: {
            "ours_with": s[0] / max(s[1], 1),
            "ours_without": s[2] / max(s[3], 1),
            "plain_with": plain[lang][0] / max(plain[lang][1], 1),
            "plain_without": plain[lang][2] / max(plain[lang][3], 1),
        }
        for lang, s in sorted(ours.items())
    }
    print(json.dumps(report, indent=1))
    assert _share(ours["all"]) >= _share(plain["all"])
    assert ours["all"][0] / ours["all"][1] > 0.9
    assert ours["all"][2] / ours["all"][3] >= plain["all"][2] / plain["all"][3]


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
