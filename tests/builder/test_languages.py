"""Any language: word segmentation for scripts without spaces, presets fitted on reference text, and the
rules keeping clean prose (and rejecting repeated junk) in scripts other than Latin."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from curation.filters import heuristics
from curation.filters.heuristics.fit import PresetsFit, PresetsFitConfig, chunk_lines, fit_texts
from curation.filters.heuristics.gopher_quality import MEAN_WORD_LENGTH
from curation.filters.heuristics.presets import load_preset, preset_model
from curation.filters.heuristics.words import fallback_words, split_words

UDHR = {"zh": "cmn_hans", "ja": "jpn", "th": "tha", "ko": "kor", "ru": "rus", "pt": "por_BR", "lo": "lao"}
CFG = PresetsFitConfig(lang="und", reference=["-"], output="-", doc_chars=1000)


def _lines(data_dir: Path, lang: str) -> list[str]:
    text = (data_dir / "text" / "multi" / "udhr2" / f"{UDHR[lang]}.txt").read_text(encoding="utf-8")
    return [s for s in (line.strip() for line in text.splitlines()) if s]


def _halves(data_dir: Path, lang: str) -> tuple[list[str], list[str]]:
    lines = _lines(data_dir, lang)
    half = len(lines) // 2
    return ["\n".join(d) for d in chunk_lines(lines[:half], 1000)], [
        "\n".join(d) for d in chunk_lines(lines[half:], 1000)
    ]


def _reason(text: str, preset) -> str | None:
    _, signals = heuristics.measure(text, preset)
    return next((r for rule in heuristics.RULES if (r := rule.reason(signals, preset.settings(rule)))), None)


@pytest.mark.parametrize(
    ("lang", "low", "high", "per_token"),
    [("zh", 1.2, 2.5, 5), ("ja", 1.2, 2.5, 5), ("th", 2.0, 5.0, 3), ("ko", 1.0, 2.5, 1.5)],
)
def test_scripts_without_spaces_are_segmented_into_words(
    data_dir: Path, lang: str, low: float, high: float, per_token: float
) -> None:
    """jieba, SudachiPy, PyThaiNLP and Kiwi split the UDHR into words, not clauses or single characters
    (Korean is spaced, but its spaced units are word + particles)."""
    text = "\n".join(_lines(data_dir, lang)[5:25])
    words = [w for w in split_words(text, lang) if any(c.isalpha() for c in w)]
    mean = sum(map(len, words)) / len(words)
    assert low < mean < high, mean
    assert len(words) > per_token * len(text.split())  # more words than whitespace tokens


def test_european_words_still_come_from_datatrove(data_dir: Path) -> None:
    from datatrove.utils.text import split_into_words

    text = "\n".join(_lines(data_dir, "pt")[5:25])
    assert split_words(text, "pt") == split_into_words(text, "pt")


def test_fallback_keeps_combining_marks_in_words() -> None:
    """The regex fallback (no segmenter) keeps Devanagari vowel signs inside words, Han as single characters."""
    assert fallback_words("हिन्दी भाषा") == ["हिन्दी", "भाषा"]
    assert fallback_words("人人生而自由") == list("人人生而自由")


@pytest.mark.parametrize("lang", ["zh", "ja", "th"])
def test_fitted_preset_keeps_held_out_prose_the_defaults_reject(data_dir: Path, lang: str) -> None:
    """Fitted on one half of the UDHR, the preset keeps every document of the other half, which the rule
    defaults reject; the language is recognised as written without spaces."""
    fit_part, judged = _halves(data_dir, lang)
    data, report = fit_texts(lang, fit_part, CFG)
    assert data["c4"]["min_words_per_line"] is None and data["c4"]["min_chars_per_line"] >= 3
    fitted = preset_model().model_validate({"lang": lang, **data})
    assert [_reason(doc, fitted) for doc in judged] == [None] * len(judged)
    defaults = preset_model()(lang=lang)
    assert any(_reason(doc, defaults) for doc in judged)
    by_setting = {r["setting"]: r for r in report}
    if lang != "th":  # Chinese and Japanese words are shorter than English ones
        assert by_setting["gopher_quality.min_avg_word_length"]["fitted"] < 2.0


def test_fitted_preset_still_rejects_repeated_text(data_dir: Path) -> None:
    fit_part, judged = _halves(data_dir, "ja")
    data, _ = fit_texts("ja", fit_part, CFG)
    fitted = preset_model().model_validate({"lang": "ja", **data})
    paragraph = max(judged[0].split("\n"), key=len)
    assert _reason("\n\n".join([paragraph] * 10), fitted) in {
        "dup_para_frac",
        "dup_line_frac",
        "dup_para_char_frac",
    }


def test_fitting_never_tightens_unless_asked(data_dir: Path) -> None:
    fit_part, _ = _halves(data_dir, "ru")
    _, loose = fit_texts("ru", fit_part, CFG)
    _, tight = fit_texts("ru", fit_part, CFG.model_copy(update={"tighten": True}))
    for r in loose:
        assert r["fitted"] <= r["default"] if r["keep"] == ">=" else r["fitted"] >= r["default"], r
    moved = [
        r for r in tight if (r["fitted"] > r["default"] if r["keep"] == ">=" else r["fitted"] < r["default"])
    ]
    assert moved  # the reference's own quantiles are stricter than English defaults somewhere
    assert all(r["cut_by_fitted"] <= 0.2 for r in tight)


def test_presets_fit_command_writes_a_preset_the_build_loads(data_dir: Path, tmp_path: Path) -> None:
    """Lao (no shipped preset, written without spaces): stop words from the reference's most frequent words."""
    ref = data_dir / "text" / "multi" / "udhr2" / "lao.txt"
    stats = PresetsFit.call(
        lang="lao", reference=[str(ref)], output=str(tmp_path), doc_chars=1000, executor="local"
    )
    summary = stats["summary"]
    assert summary["lang"] == "lo" and summary["unspaced"] and summary["stopwords_from"] == "reference"
    text = "\n".join(_lines(data_dir, "lo"))
    assert 5 <= len(summary["stopwords"]) <= 30 and all(w in text for w in summary["stopwords"])
    written = yaml.safe_load((tmp_path / "lo.yaml").read_text(encoding="utf-8"))
    assert yaml.safe_load((tmp_path / "build.yaml").read_text(encoding="utf-8")) == {
        "presets": {"lo": written}
    }
    preset = load_preset("lo", written)
    assert preset.gopher_quality.min_stop_words == 2 and preset.c4.min_chars_per_line
    assert written["c4"]["min_words_per_line"] is None and _reason(text, preset) is None


def test_shipped_presets_for_scripts_without_spaces(data_dir: Path) -> None:
    for lang in ("zh", "ja", "th"):
        preset = load_preset(lang)
        assert preset.c4.min_chars_per_line and preset.c4.min_words_per_line is None
        assert preset.gopher_quality.min_stop_words == 2 and len(preset.stopwords) >= 10
        text = "\n".join(_lines(data_dir, lang))
        assert _reason(text, preset) is None, lang


def test_european_presets_unchanged_by_the_character_level_variant(data_dir: Path) -> None:
    text = "\n".join(_lines(data_dir, "pt"))
    _, signals = heuristics.measure(text, load_preset("pt"))
    assert 4.0 < signals[MEAN_WORD_LENGTH] < 6.0
    assert load_preset("pt").c4.min_words_per_line == 3 and load_preset("pt").c4.min_chars_per_line is None
    assert re.fullmatch(r"\d+", str(load_preset("pt").c4.max_word_length))


@pytest.fixture(scope="module")
def ja_zh_ru_build(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path) -> Path:
    """`curation build --lang ja zh ru --keep-rejected` on the sample pages and the ClueWeb09 Japanese WARC."""
    from .conftest import build

    out = tmp_path_factory.mktemp("ja_zh_ru")
    inputs = [
        str(warc_dir / "pages-dev.warc.gz"),
        str(warc_dir / "clueweb09-ja_resiliparse-clueweb-quirk.warc.gz"),
    ]
    build(out, inputs, ["ja", "zh", "ru"], keep_rejected=True)
    return out


def _judged(out: Path, lang: str):
    """Kept and rule-rejected documents of ``lang`` (those that passed language ID)."""
    import polars as pl

    from .conftest import read_docs

    rejected = read_docs(out, "rejected").filter(
        (pl.col("lang") == lang) & ~pl.col("drop_reason").is_in(["other_language", "low_lang_score"])
    )
    return read_docs(out, lang), rejected


def test_japanese_build_keeps_the_article_and_judges_clueweb_pages_by_content(ja_zh_ru_build: Path) -> None:
    """The NHK news article is kept; the ClueWeb09 pages (a shop's ranking list, legacy encoding) reach every
    rule and are judged for what they are, not dropped for their short words as the rule defaults did."""
    from .conftest import stats_of

    kept, rejected = _judged(ja_zh_ru_build, "ja")
    assert kept["url"].to_list() == ["https://www3.nhk.or.jp/news/easy/k10011959621000/k10011959621000.html"]
    assert len(kept) + len(rejected) == 30  # 29 ClueWeb09 pages + the article
    assert set(rejected["drop_reason"]) <= {
        "gopher_alpha_words_ratio",
        "gopher_stop_words",
        "fineweb_line_punct_ratio",
    }
    assert (rejected["mean_word_length"] > load_preset("ja").gopher_quality.min_avg_word_length).all()
    funnel = stats_of(ja_zh_ru_build)["stages"]
    assert funnel["gopher_quality"]["in"] == funnel["language_filter"]["out"]  # the funnel is reported


def test_chinese_build_keeps_the_article_the_defaults_rejected(ja_zh_ru_build: Path) -> None:
    """The Banyuetan article is kept with the shipped zh preset; with the rule defaults it fails on its mean
    word length and line punctuation, and C4 removes almost every line (whole lines are one whitespace token)."""
    kept, rejected = _judged(ja_zh_ru_build, "zh")
    assert kept["url"].to_list() == [
        "http://www.banyuetan.org/jmcs/detail/20200102/1000200033136171577956287380194268_1.html"
    ]
    assert rejected.is_empty()
    text = kept["text"][0]
    defaults = preset_model()(lang="zh")
    cleaned, _ = heuristics.measure(text, defaults)
    assert _reason(text, defaults) == "gopher_mean_word_length_low" and len(cleaned) < 0.1 * len(text)


def test_russian_build_keeps_its_articles(ja_zh_ru_build: Path) -> None:
    """Russian (Cyrillic, spaced, no shipped preset): the article pages are kept; the interview list whose 23
    repeated questions fill its lines is dropped for duplicated characters, as in English."""
    kept, rejected = _judged(ja_zh_ru_build, "ru")
    assert {u.split("/")[2] for u in kept["url"]} == {"www.wday.ru", "gto-normativy.ru", "vse-diety.com"}
    assert rejected["drop_reason"].to_list() == ["fineweb_char_dup_ratio"]
    assert rejected["url"][0].startswith("http://www.wday.ru/articles/mastera-vkusa")
