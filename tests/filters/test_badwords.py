"""Bad-word signal on the real LDNOOBW lists and real ToLD-BR tweets."""

from __future__ import annotations

import polars as pl
import pytest

from curation.core.errors import CurationError
from curation.filters.badwords import BadWords, read_lists


@pytest.fixture(scope="module")
def badwords(badword_dir) -> BadWords:
    return BadWords.from_dirs([badword_dir])


def test_lists_from_v1_and_v2_are_merged(badword_dir):
    v1 = read_lists([badword_dir / "ldnoobw_v1"])
    v2 = read_lists([badword_dir / "ldnoobw_v2" / "data"])
    both = read_lists([badword_dir])
    assert len(v2) == 75 and len(v1) >= 27
    assert len(both["pt"]) == len(v1["pt"]) + len(v2["pt"])
    assert "fr" in both and "zh" in both and "ja" in both


def test_word_boundaries_in_spaced_languages(badwords):
    # "puta" is a list entry; it must not fire inside "computador" or "disputa"
    count, ratio = badwords.measure("O computador da disputa", "pt")
    assert count == 0 and ratio == 0.0
    count, ratio = badwords.measure("vai tomar no cu, puta", "pt")
    assert count >= 2 and 0 < ratio <= 1
    assert badwords.measure("PUTA", "pt")[0] == 1  # case-insensitive


def test_substrings_in_languages_without_spaces(badwords, badword_dir):
    entry = next(w for w in read_lists([badword_dir / "ldnoobw_v2" / "data"])["zh"] if len(w) >= 2)
    count, ratio = badwords.measure(f"我们{entry}真的", "zh")
    assert count >= 1 and ratio > 0


def test_unknown_language_is_null_not_zero(badwords):
    assert badwords.measure("anything", "xx") == (None, None)
    counts, ratios = badwords.measure_many(["a", "b"], ["pt", ""])
    assert counts[1] is None and counts[0] == 0


def test_counts_rank_toxic_tweets_higher(badwords, told_sample):
    tweets = pl.read_csv(told_sample)
    toxic = tweets.select(pl.max_horizontal("obscene", "insult") >= 2).to_series().to_list()
    counts, _ = badwords.measure_many(tweets["text"].to_list(), ["pt"] * tweets.height)
    mean_toxic = sum(c for c, t in zip(counts, toxic, strict=True) if t) / sum(toxic)
    mean_clean = sum(c for c, t in zip(counts, toxic, strict=True) if not t) / (len(toxic) - sum(toxic))
    assert mean_toxic > 2 * mean_clean


def test_missing_directory_is_a_user_error(tmp_path):
    with pytest.raises(CurationError, match="not found"):
        read_lists([tmp_path / "nope"])
    with pytest.raises(CurationError, match="no bad-word lists"):
        read_lists([tmp_path])
