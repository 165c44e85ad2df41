"""Shingles: word n-grams (Unicode ``\\w+`` words) or character n-grams (scripts written without spaces).

Everything is vectorised over a batch of documents: tokens are extracted and hashed by polars, and the
n-gram hashes are combined with numpy over the concatenated token array, masking windows that would cross
a document boundary. A document shorter than ``n`` tokens gets one shingle made of all its tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# Languages written without spaces between words: shingled by characters in ``auto`` mode.
CHAR_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu"})
_NO_SPACE_SCRIPTS = r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}]"
CHAR_SCRIPT_MIN_FRAC = 0.3
_TOKEN_SEED = 0x5EED


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of a batch of documents, concatenated: document ``i`` owns ``counts[i]`` hashes."""

    hashes: np.ndarray  # uint64
    counts: np.ndarray  # int64, one per document

    def sets(self) -> pl.Series:
        """Each document's distinct shingles, sorted, as one list per document, each hash cut to its top 32
        bits (half the bytes to carry to verification; a collision among a document pair's shingles is
        about ``shingles**2 / 2**33`` likely, far below a Jaccard difference that matters)."""
        import pyarrow as pa

        owner = np.repeat(np.arange(len(self.counts), dtype=np.uint64), self.counts)
        keys = np.sort((owner << np.uint64(32)) | (self.hashes >> np.uint64(32)))
        first = np.ones(len(keys), bool)
        first[1:] = keys[1:] != keys[:-1]
        keys = keys[first]
        counts = np.bincount((keys >> np.uint64(32)).astype(np.int64), minlength=len(self.counts))
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        values = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        return pl.Series(pa.ListArray.from_arrays(pa.array(offsets), pa.array(values)))


def mix64(x: np.ndarray) -> np.ndarray:
    """The murmur3 64-bit finaliser, elementwise (uint64 -> uint64, wrapping)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xFF51AFD7ED558CCD)
    x ^= x >> np.uint64(33)
    x *= np.uint64(0xC4CEB93FCA5E53)
    x ^= x >> np.uint64(33)
    return x


def char_mode(texts: pl.Series, langs: pl.Series | None, mode: str) -> np.ndarray:
    """Which documents to shingle by characters: by ``lang`` when known, else by the share of such scripts."""
    n = len(texts)
    if mode != "auto":
        return np.full(n, mode == "char")
    filled = texts.fill_null("")
    n_script = filled.str.count_matches(_NO_SPACE_SCRIPTS).to_numpy()
    n_chars = np.maximum(filled.str.len_chars().to_numpy(), 1)
    by_script = n_script / n_chars >= CHAR_SCRIPT_MIN_FRAC
    if langs is None:
        return by_script
    lang = langs.to_numpy()
    known = langs.is_not_null().to_numpy()
    by_lang = np.isin(lang, list(CHAR_LANGS))
    return np.where(known, by_lang | by_script, by_script)


def _token_hashes(tokens: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    counts = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    flat = tokens.explode().drop_nulls()
    return flat.hash(seed=_TOKEN_SEED).to_numpy(), counts


def _ngrams(tok: np.ndarray, counts: np.ndarray, n: int, seed: int) -> Shingles:
    total = len(tok)
    if total == 0:
        return Shingles(np.zeros(0, np.uint64), np.zeros(len(counts), np.int64))
    coef = np.random.default_rng(seed).integers(1, 2**63, size=n, dtype=np.uint64) | np.uint64(1)
    doc = np.repeat(np.arange(len(counts)), counts)
    acc = tok * coef[0]
    for j in range(1, n):
        term = np.zeros(total, np.uint64)
        term[:-j] = np.where(doc[j:] == doc[:-j], tok[j:] * coef[j], np.uint64(0))
        acc += term
    pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    valid = (pos <= np.repeat(counts, counts) - n) | (pos == 0)
    return Shingles(mix64(acc[valid]), np.bincount(doc[valid], minlength=len(counts)).astype(np.int64))


def _words(texts: pl.Series) -> pl.Series:
    return texts.str.extract_all(r"\w+")


def _chars(texts: pl.Series) -> pl.Series:
    chars = texts.str.replace_all(r"[\s\p{P}]+", "").str.split("")
    return chars.list.eval(pl.element().filter(pl.element() != ""))


def _merge(parts: list[tuple[np.ndarray, Shingles]], n_docs: int) -> Shingles:
    """Interleave the shingles of document subsets back into document order."""
    counts = np.zeros(n_docs, np.int64)
    owners, hashes = [np.zeros(0, np.int64)], [np.zeros(0, np.uint64)]
    for idx, sh in parts:
        counts[idx] = sh.counts
        owners.append(np.repeat(idx, sh.counts))
        hashes.append(sh.hashes)
    order = np.argsort(np.concatenate(owners), kind="stable")
    return Shingles(np.concatenate(hashes)[order], counts)


def shingle(
    texts: pl.Series, is_char: np.ndarray, word_ngram: int = 5, char_ngram: int = 5, seed: int = 1
) -> Shingles:
    """Hash every document's shingles: word ``word_ngram``-grams, ``char_ngram``-grams where ``is_char``."""
    lower = texts.fill_null("").str.to_lowercase()
    parts = []
    for mask, n, tokenize in ((~is_char, word_ngram, _words), (is_char, char_ngram, _chars)):
        idx = np.flatnonzero(mask)
        if len(idx):
            tok, counts = _token_hashes(tokenize(lower.gather(idx)))
            parts.append((idx, _ngrams(tok, counts, n, seed)))
    return _merge(parts, len(texts))


def jaccard(a: str, b: str) -> pl.Expr:
    """Exact Jaccard of two list columns of distinct shingles (``Shingles.sets``); both empty -> 1.0."""
    inter = pl.col(a).list.set_intersection(pl.col(b)).list.len()
    union = pl.col(a).list.len() + pl.col(b).list.len() - inter
    return pl.when(union == 0).then(1.0).otherwise(inter / union)
