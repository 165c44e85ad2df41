"""Per-file tokenization (run as Ray tasks): exact token counts and the token caches packing reads.

A document's token count includes the EOS that separates it from the next one in packed data. ``curation
mix`` writes the caches under ``<mix output>/_run/token_cache``; ``curation pack`` reuses them when the file,
its read options and the tokenizer are unchanged (the cache key covers all three).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.io import atomic_write_bytes
from mixer.sources import ReadOptions, load_documents

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

BATCH_DOCS = 512

FileItem = tuple[str, ReadOptions]


@lru_cache(maxsize=4)
def cached_tokenizer(name: str) -> PreTrainedTokenizerFast:
    """The tokenizer ``name``, loaded once per worker process."""
    from mixer.tokenizer import load_tokenizer

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


def file_identity(path: str) -> dict[str, Any]:
    st = os.stat(path)
    return {"path": path, "size_bytes": st.st_size, "mtime_ns": st.st_mtime_ns}


def cache_key(item: FileItem, tokenizer_fingerprint: str) -> str:
    path, opts = item
    ident = {**file_identity(path), **asdict(opts), "tokenizer": tokenizer_fingerprint}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


def token_dtype(vocab_size: int) -> str:
    return "uint16" if vocab_size < 65536 else "uint32"


def cache_paths(cache_dir: str | os.PathLike[str], key: str) -> dict[str, Path]:
    """A cache entry: the token ids (memory-mappable), then ``done``: lengths, up-weights and the record."""
    return {"tokens": Path(cache_dir) / f"{key}.tokens.npy", "done": Path(cache_dir) / f"{key}.meta.npz"}


def save_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write one array as ``.npy`` atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


def cache_record(paths: dict[str, Path]) -> dict[str, Any]:
    """The record of a finished cache entry (file identity, rows, tokens, available tokens, text bytes)."""
    with np.load(paths["done"]) as meta:
        return json.loads(str(meta["record"]))


def open_cache(paths: dict[str, Path]) -> dict[str, np.ndarray]:
    with np.load(paths["done"]) as meta:
        arrays = {"lengths": meta["lengths"], "upweights": meta["upweights"]}
    return {"tokens": np.load(paths["tokens"], mmap_mode="r"), **arrays}


def tokenize_file(
    item: FileItem, tokenizer_name: str, cache_dir: str, tokenizer_fp: str, dtype: str
) -> dict[str, Any]:
    """Write the file's token ids (documents back to back, each ending in EOS), lengths and up-weights.

    Returns (and stores in the ``done`` file, written last so a killed run redoes only unfinished files)
    the file's identity, rows kept, tokens, tokens of rows with a positive up-weight, and text bytes.
    """
    path, opts = item
    texts, upweights = load_documents(path, opts)
    flat, lengths = encode_documents(tokenizer_name, texts, dtype)
    paths = cache_paths(cache_dir, cache_key(item, tokenizer_fp))
    save_npy(paths["tokens"], flat)
    record = {
        **file_identity(path),
        "rows": len(texts),
        "tokens": int(lengths.sum()),
        "available_tokens": int(lengths[upweights > 0].sum()),
        "text_bytes": sum(len(t.encode("utf-8")) for t in texts),
    }
    buf = io.BytesIO()
    np.savez(
        buf, lengths=lengths, upweights=upweights.astype(np.float64), record=np.array(json.dumps(record))
    )
    atomic_write_bytes(paths["done"], buf.getvalue())
    return record
