"""Per-file tokenization: exact token counts, and the token cache packing reads.

A document's token count includes the EOS that separates it from the next one in packed data. The cache is a
folder shared by `curation mix`, `curation pack` (and every ablation job that uses the same files): an entry is
keyed by the file's identity, its read options and the tokenizer, holds the token ids (memory-mappable) and
per-document lengths and up-weights, and is complete when its completion record ``<key>.json`` exists (the
stage runner writes it after the arrays).
"""

from __future__ import annotations

import hashlib
import io as bytes_io
import json
from dataclasses import asdict
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from curation.core import io
from curation.core.stage import Unit, UnitResult
from curation.mixer.sources import ReadOptions, load_documents

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

BATCH_DOCS = 512

FileItem = tuple[str, ReadOptions]


@lru_cache(maxsize=4)
def cached_tokenizer(name: str) -> PreTrainedTokenizerFast:
    """The tokenizer ``name``, loaded once per worker process."""
    from curation.mixer.tokenizer import load_tokenizer

    return load_tokenizer(name)


def encode_documents(
    tokenizer_name: str, texts: list[str], dtype: str = "int64"
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of the texts back to back, each followed by EOS, and each document's length (with EOS).

    Batched through the Rust tokenizer; ids are copied into one preallocated array.
    """
    tok = cached_tokenizer(tokenizer_name)
    backend, eos = tok.backend_tokenizer, tok.eos_token_id
    ids: list[list[int]] = []
    for i in range(0, len(texts), BATCH_DOCS):
        ids.extend(
            enc.ids for enc in backend.encode_batch(texts[i : i + BATCH_DOCS], add_special_tokens=False)
        )
    lengths = np.fromiter((len(x) + 1 for x in ids), dtype=np.int64, count=len(ids))
    flat = np.empty(int(lengths.sum()), dtype=dtype)
    ends = np.cumsum(lengths)
    for doc, end in zip(ids, ends.tolist(), strict=True):
        flat[end - len(doc) - 1 : end - 1] = doc
    flat[ends - 1] = eos
    return flat, lengths


def cache_key(item: FileItem, tokenizer_fingerprint: str) -> str:
    path, opts = item
    ident = {**io.identity(path), **asdict(opts), "tokenizer": tokenizer_fingerprint}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def cache_units(items: list[FileItem], tokenizer_fingerprint: str) -> list[Unit]:
    """One tokenization unit per (file, read options), keyed by its cache entry."""
    return [Unit(cache_key(item, tokenizer_fingerprint), item) for item in items]


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size < 65536 else "uint32"


def _entry(cache_dir: str, key: str) -> dict[str, str]:
    return {"tokens": io.join(cache_dir, f"{key}.tokens.npy"), "meta": io.join(cache_dir, f"{key}.meta.npz")}


def open_cache(cache_dir: str, key: str) -> dict[str, np.ndarray]:
    """A complete cache entry: token ids (memory-mapped; a local copy of a remote cache), per-document
    lengths and up-weights."""
    paths = {name: io.local_mirror(p) for name, p in _entry(cache_dir, key).items()}
    with np.load(paths["meta"]) as meta:
        arrays = {"lengths": meta["lengths"], "upweights": meta["upweights"]}
    return {"tokens": np.load(paths["tokens"], mmap_mode="r"), **arrays}


def tokenize_file(
    item: FileItem, tokenizer_name: str, tokenizer_fp: str, cache_dir: str, dtype: str
) -> UnitResult:
    """Write the file's token ids (documents back to back, each ending in EOS), lengths and up-weights.

    The result (also the cache entry's record) is the file's identity, rows kept, tokens, tokens of rows with
    a positive up-weight, and text bytes."""
    path, opts = item
    texts, upweights = load_documents(path, opts)
    flat, lengths = encode_documents(tokenizer_name, texts, dtype)
    paths = _entry(cache_dir, cache_key(item, tokenizer_fp))
    io.write_npy(paths["tokens"], flat)
    buf = bytes_io.BytesIO()
    np.savez(buf, lengths=lengths, upweights=upweights.astype(np.float64))
    io.write_bytes(paths["meta"], buf.getvalue())
    result = {
        **io.identity(path),
        "rows": len(texts),
        "tokens": int(lengths.sum()),
        "available_tokens": int(lengths[upweights > 0].sum()),
        "text_bytes": sum(len(t.encode("utf-8")) for t in texts),
    }
    return UnitResult(outputs=list(paths.values()), result=result)
