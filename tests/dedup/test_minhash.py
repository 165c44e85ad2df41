"""Shingling, signatures and LSH parameters on real texts."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest
from datasketch.lsh import _optimal_param

from benchmarks.dedup_eval import jaccard_pairs
from curation.dedup.minhash import MinHasher, band_keys, optimal_bands_rows
from curation.dedup.shingles import char_mode, jaccard, shingle


def pair_jaccard(sets: pl.Series, pairs: list[tuple[int, int]]) -> np.ndarray:
    """Exact Jaccard of document pairs by the verify step's expression on ``Shingles.sets``."""
    a, b = zip(*pairs, strict=True)
    frame = pl.DataFrame({"a": sets.gather(list(a)), "b": sets.gather(list(b))})
    return frame.select(jaccard("a", "b")).to_series().to_numpy()


def collision_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that two documents of Jaccard ``similarity`` share at least one of ``bands`` LSH bands."""
    return 1.0 - (1.0 - similarity**rows) ** bands


@pytest.mark.parametrize("threshold,num_perm", [(0.5, 64), (0.7, 128), (0.8, 256), (0.9, 128)])
def test_bands_rows_match_datasketch(threshold: float, num_perm: int) -> None:
    assert optimal_bands_rows(threshold, num_perm) == _optimal_param(threshold, num_perm, 0.5, 0.5)


def test_bands_rows_trade_off() -> None:
    b, r = optimal_bands_rows(0.7, 128)
    assert b * r <= 128
    assert collision_probability(0.9, b, r) > 0.99
    assert collision_probability(0.3, b, r) < 0.01
    # weighting false positives more moves the S-curve right
    b2, r2 = optimal_bands_rows(0.7, 128, fp_weight=0.9)
    assert collision_probability(0.7, b2, r2) < collision_probability(0.7, b, r)


def test_signatures_estimate_jaccard(labelled: pl.DataFrame) -> None:
    texts = labelled["text"]
    sh = shingle(texts, np.zeros(len(texts), bool))
    sig = MinHasher(128, seed=3).signatures(sh)
    same = labelled.with_row_index("i").group_by("label").agg("i")["i"].to_list()
    pairs = [(a, b) for members in same for a in members for b in members if a < b]
    estimates = np.array([(sig[a] == sig[b]).mean() for a, b in pairs])
    errors = pair_jaccard(sh.sets(), pairs) - estimates
    assert len(errors) > 1000
    assert abs(np.mean(errors)) < 0.01  # unbiased
    assert 0.01 < np.std(errors) < 0.06  # ~ sqrt(J(1-J)/128)


def test_set_jaccard_matches_string_shingle_truth(labelled: pl.DataFrame) -> None:
    """The verify step's Jaccard (32-bit hashed shingles) equals the exact Jaccard of word 5-gram strings, on
    documents that Python's and polars' ``\\w+`` split alike (they differ on Arabic vowel marks)."""
    texts = labelled["text"]
    polars_words = texts.str.to_lowercase().str.extract_all(r"\w+").to_list()
    alike = [
        k
        for k, (t, w) in enumerate(zip(texts, polars_words, strict=True))
        if re.findall(r"\w+", t.lower()) == w
    ]
    assert len(alike) > 0.9 * len(texts)
    truth = jaccard_pairs(texts.to_list(), 5).filter(
        (pl.col("jaccard") >= 0.3) & pl.col("i").is_in(alike) & pl.col("j").is_in(alike)
    )
    pairs = list(zip(truth["i"].to_list(), truth["j"].to_list(), strict=True))
    ours = pair_jaccard(shingle(texts, np.zeros(len(texts), bool)).sets(), pairs)
    assert len(pairs) > 1000
    assert np.abs(ours - truth["jaccard"].to_numpy()).max() < 1e-3


def test_chunking_does_not_change_signatures(labelled: pl.DataFrame) -> None:
    texts = labelled["text"].head(50)
    sh = shingle(texts, np.zeros(len(texts), bool))
    whole = MinHasher(64, chunk_shingles=1 << 30).signatures(sh)
    small = MinHasher(64, chunk_shingles=100).signatures(sh)
    assert np.array_equal(whole, small)
    one_by_one = np.vstack(
        [MinHasher(64).signatures(shingle(texts[i : i + 1], np.zeros(1, bool))) for i in range(50)]
    )
    assert np.array_equal(whole, one_by_one)


def test_short_and_empty_documents() -> None:
    texts = pl.Series(["", None, "duas palavras", "uma frase com exatamente cinco"])
    sh = shingle(texts, np.zeros(4, bool))
    assert sh.counts.tolist() == [0, 0, 1, 1]
    sig = MinHasher(16).signatures(sh)
    assert (sig[0] == np.iinfo(np.uint32).max).all()
    assert not (sig[2] == sig[3]).all()


def test_char_shingles_for_scripts_without_spaces(data_dir) -> None:
    udhr = data_dir / "text" / "multi" / "udhr2"
    ja = (udhr / "jpn.txt").read_text(encoding="utf-8")
    zh = (udhr / "cmn_hans.txt").read_text(encoding="utf-8")
    pt = (udhr / "por_BR.txt").read_text(encoding="utf-8")
    texts = pl.Series([ja, zh, pt])
    assert char_mode(texts, None, "auto").tolist() == [True, True, False]
    assert char_mode(texts, pl.Series(["ja", None, "pt"]), "auto").tolist() == [True, True, False]
    # a Japanese text and its first 90% share most character 5-grams, while its words are few and long
    cut = ja[: int(len(ja) * 0.9)]
    chars = shingle(pl.Series([ja, cut]), np.ones(2, bool)).sets()
    assert pair_jaccard(chars, [(0, 1)])[0] > 0.8


def test_band_keys_shape_and_equality(labelled: pl.DataFrame) -> None:
    texts = pl.concat([labelled["text"].head(3), labelled["text"].head(1)])
    sig = MinHasher(128).signatures(shingle(texts, np.zeros(4, bool)))
    keys = band_keys(sig, 14, 9)
    assert keys.shape == (4, 14) and keys.dtype == np.uint64
    assert np.array_equal(keys[0], keys[3])
    assert len(np.unique(keys[0])) == 14  # the band index is part of the key
