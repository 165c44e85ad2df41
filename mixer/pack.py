"""`curation pack`: tokenize a manifest's sources and write interleaved fixed-length sequences as shards.

Each sequence holds ``seq_len`` tokens of one source's stream (documents back to back, EOS after each).
A source's stream is its documents in shuffled passes (repetitions per the manifest's epochs and
up-weights), cut into sequences; each phase interleaves its sources' sequences evenly (see
``mixer.schedule.interleave``) and shuffles which of a source's sequences fills which of its slots.
Shards are written atomically with a completion record each, so a killed pack resumes where it stopped.
"""

from __future__ import annotations

import json
import os
import shutil
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from curation.errors import CurationError
from curation.executor import map_items, progress_bar
from curation.io import atomic_write_json, remove_stale_temps
from curation.plots import bar_plot
from curation.runinfo import part_path, run_dir, save_config, save_stats
from curation.schema import PACK_FORMAT_VERSION, PACK_INFO_FILE, PACK_TOKENIZER_DIR, RUN_DIR, TOKEN_CACHE_DIR
from curation.stats import Stats
from mixer.schedule import interleave, repetition_order
from mixer.sources import ReadOptions
from mixer.tokens import (
    cache_key,
    cache_paths,
    file_identity,
    open_cache,
    save_npy,
    token_dtype,
    tokenize_file,
)

SHARD_STEM = "shard_{index:05d}"


def source_seed(seed: int, name: str, *more: int) -> np.random.Generator:
    """A generator for one source (and phase), independent of the order sources are listed in."""
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8")), *more])


@dataclass
class SourceStream:
    """One source's token stream: pieces (document, tokens taken) in order, over per-file token arrays."""

    tokens: list[np.ndarray]
    doc_file: np.ndarray
    doc_offset: np.ndarray
    order: np.ndarray
    ends: np.ndarray

    @classmethod
    def build(
        cls,
        files: list[dict[str, np.ndarray]],
        target_tokens: int,
        max_epochs: float,
        rng: np.random.Generator,
    ) -> SourceStream:
        lengths = np.concatenate([f["lengths"] for f in files]) if files else np.zeros(0, np.int64)
        upweights = np.concatenate([f["upweights"] for f in files]) if files else np.zeros(0)
        doc_file = np.concatenate(
            [np.full(len(f["lengths"]), i) for i, f in enumerate(files)] or [np.zeros(0)]
        )
        doc_offset = np.concatenate(
            [np.cumsum(f["lengths"]) - f["lengths"] for f in files] or [np.zeros(0, np.int64)]
        )
        if target_tokens == 0:
            order, taken = np.zeros(0, np.int64), np.zeros(0, np.int64)
        else:
            order, taken = repetition_order(lengths, upweights, target_tokens, max_epochs, rng)
        return cls(
            [f["tokens"] for f in files], doc_file.astype(np.int64), doc_offset, order, np.cumsum(taken)
        )

    def chunk(self, k: int, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
        """Tokens ``[k * seq_len, (k + 1) * seq_len)`` of the stream, and where documents start in them."""
        a, b = k * seq_len, (k + 1) * seq_len
        i = int(np.searchsorted(self.ends, a, side="right"))
        parts, starts = [], []
        pos = a
        while pos < b:
            end = int(self.ends[i])
            piece_start = int(self.ends[i - 1]) if i else 0
            lo, hi = pos - piece_start, min(end, b) - piece_start
            if lo == 0 and pos > a:
                starts.append(pos - a)
            doc = int(self.order[i])
            off = int(self.doc_offset[doc])
            parts.append(self.tokens[int(self.doc_file[doc])][off + lo : off + hi])
            pos, i = piece_start + hi, i + 1
        return np.concatenate(parts), np.asarray(starts, dtype=np.int32)


def slot_plan(manifest: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """For every global sequence: its source id and which sequence of that source's stream it is."""
    names = list(manifest["sources"])
    seed = int(manifest["seed"])
    sources, chunks = [], []
    done = dict.fromkeys(names, 0)
    for p, phase in enumerate(manifest["phases"]):
        counts = [int(phase["sequences"][n]) for n in names]
        order = interleave(counts)
        chunk = np.empty(len(order), dtype=np.int64)
        for s, name in enumerate(names):
            chunk[order == s] = done[name] + source_seed(seed, name, p + 1).permutation(counts[s])
            done[name] += counts[s]
        sources.append(order)
        chunks.append(chunk)
    return np.concatenate(sources).astype(np.int16), np.concatenate(chunks)


def shard_arrays(
    rows: range,
    slot_source: np.ndarray,
    slot_chunk: np.ndarray,
    streams: list[SourceStream],
    seq_len: int,
    dtype: str,
) -> dict[str, np.ndarray]:
    """The arrays of one shard: tokens, source ids, and document starts as CSR (starts, index)."""
    tokens = np.empty((len(rows), seq_len), dtype=dtype)
    starts, index = [], [0]
    for r, g in enumerate(rows):
        toks, st = streams[int(slot_source[g])].chunk(int(slot_chunk[g]), seq_len)
        tokens[r] = toks
        starts.append(st)
        index.append(index[-1] + len(st))
    return {
        "path": tokens,
        "sources": slot_source[rows.start : rows.stop].copy(),
        "doc_starts": np.concatenate(starts) if starts else np.zeros(0, np.int32),
        "doc_index": np.asarray(index, dtype=np.int64),
    }


def shard_entry(index: int, num_sequences: int) -> dict[str, Any]:
    stem = SHARD_STEM.format(index=index)
    return {
        "path": f"{stem}.tokens.npy",
        "num_sequences": num_sequences,
        "sources": f"{stem}.sources.npy",
        "doc_starts": f"{stem}.doc_starts.npy",
        "doc_index": f"{stem}.doc_index.npy",
    }


def shard_ranges(num_sequences: int, sequences_per_shard: int) -> list[range]:
    return [
        range(lo, min(lo + sequences_per_shard, num_sequences))
        for lo in range(0, num_sequences, sequences_per_shard)
    ]


class PackOptions(BaseModel):
    """`curation pack` settings (each also a CLI flag)."""

    model_config = ConfigDict(extra="forbid")
    manifest: str
    output: str
    sequences_per_shard: int = Field(default=8192, gt=0)
    executor: Literal["ray", "local"] = "ray"
    workers: int | None = Field(default=None, gt=0)
    ray_address: str | None = None


def check_inputs_unchanged(manifest: dict[str, Any]) -> None:
    for name, entry in manifest["sources"].items():
        for f in entry["files"]:
            if not os.path.isfile(f["path"]):
                raise CurationError(
                    f"source '{name}': input missing since the manifest was written: {f['path']}"
                )
            if file_identity(f["path"]) != {k: f[k] for k in ("path", "size_bytes", "mtime_ns")}:
                raise CurationError(
                    f"source '{name}': input changed since the manifest was written: {f['path']}"
                )


def _find_cache(dirs: list[Path], key: str) -> dict[str, Path] | None:
    return next((cache_paths(d, key) for d in dirs if cache_paths(d, key)["done"].exists()), None)


def tokenize_sources(
    manifest: dict[str, Any], opts: PackOptions, tok_fp: str, dtype: str, stats: Stats
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Token arrays of every (source, file): from the caches `curation mix` or a killed pack left, else
    tokenized now in parallel."""
    own = Path(opts.output) / RUN_DIR / TOKEN_CACHE_DIR
    own.mkdir(parents=True, exist_ok=True)
    manifest_dir = Path(opts.manifest) if Path(opts.manifest).is_dir() else Path(opts.manifest).parent
    dirs = [own, manifest_dir / RUN_DIR / TOKEN_CACHE_DIR]
    items = [
        (
            (
                f["path"],
                ReadOptions(name, e["filter"], e["text_column"], e["upweight_by"], e["upweight_power"]),
            ),
            f,
        )
        for name, e in manifest["sources"].items()
        for f in e["files"]
    ]
    todo = [item for item, _ in items if _find_cache(dirs, cache_key(item, tok_fp)) is None]
    stats.count("files", "cached", len(items) - len(todo))
    with stats.timed("tokenize"):
        for _, record in map_items(
            tokenize_file,
            todo,
            manifest["tokenizer"],
            str(own),
            tok_fp,
            dtype,
            executor=opts.executor if todo else "local",  # no Ray start for nothing
            ray_address=opts.ray_address,
            workers=opts.workers,
            description="tokenizing",
            info=lambda r: f"{r['tokens']:,} tokens",
        ):
            stats.add("tokens_tokenized", record["tokens"])
            stats.add("text_bytes_tokenized", record["text_bytes"])
    out: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in manifest["sources"]}
    for item, f in items:
        cache = open_cache(_find_cache(dirs, cache_key(item, tok_fp)))
        if int(cache["lengths"].sum()) != f["tokens"]:
            raise CurationError(
                f"source '{item[1].source}': token count of {f['path']} differs from the manifest"
            )
        out[item[1].source].append(cache)
    return out


def save_tokenizer(tokenizer: Any, output: Path) -> Path:
    """``save_pretrained`` into ``<output>/tokenizer`` through a temporary directory and a rename."""
    final = output / PACK_TOKENIZER_DIR
    tmp = output / f".{PACK_TOKENIZER_DIR}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer.save_pretrained(str(tmp))
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def write_shards(
    manifest: dict[str, Any], streams: list[SourceStream], opts: PackOptions, dtype: str, stats: Stats
) -> list[dict[str, Any]]:
    """Write every shard not already complete (same manifest and shard size); return the shard entries."""
    out = Path(opts.output)
    seq_len = int(manifest["seq_len"])
    slot_source, slot_chunk = slot_plan(manifest)
    key = {"manifest_fingerprint": manifest["fingerprint"], "sequences_per_shard": opts.sequences_per_shard}
    entries = []
    ranges = shard_ranges(len(slot_source), opts.sequences_per_shard)
    with progress_bar() as bar, stats.timed("pack"):
        task = bar.add_task("packing", total=len(ranges), info="")
        for i, rows in enumerate(ranges):
            entry = shard_entry(i, len(rows))
            record = part_path(out, SHARD_STEM.format(index=i))
            if record.exists() and json.loads(record.read_text()) == {**key, **entry}:
                stats.count("shards", "reused")
            else:
                arrays = shard_arrays(rows, slot_source, slot_chunk, streams, seq_len, dtype)
                for name, array in arrays.items():
                    save_npy(out / entry[name], array)
                atomic_write_json(record, {**key, **entry})
                stats.count("shards", "written")
            entries.append(entry)
            bar.update(task, advance=1, info=f"{rows.stop:,} sequences")
    names = list(manifest["sources"])
    for s, n in zip(*np.unique(slot_source, return_counts=True), strict=True):
        stats.count("sequences_per_source", names[int(s)], int(n))
    return entries


def run_pack(opts: PackOptions) -> dict[str, Any]:
    """Pack a manifest into ``opts.output``; returns the ``pack.json`` dict (written last)."""
    from mixer.manifest import load_manifest
    from mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size

    manifest = load_manifest(opts.manifest)
    out = Path(opts.output)
    out.mkdir(parents=True, exist_ok=True)
    save_config(out, "pack", opts.model_dump())
    remove_stale_temps(out)
    tokenizer = load_tokenizer(manifest["tokenizer"])
    tok_fp = tokenizer_fingerprint(tokenizer)
    if tok_fp != manifest["tokenizer_fingerprint"]:
        raise CurationError(
            f"tokenizer {manifest['tokenizer']} differs from the one the manifest was planned with"
        )
    check_inputs_unchanged(manifest)
    vocab = vocab_size(tokenizer)
    dtype = token_dtype(vocab)
    stats = Stats()
    caches = tokenize_sources(manifest, opts, tok_fp, dtype, stats)
    streams = [
        SourceStream.build(
            caches[name], int(e["tokens"]), float(e["max_epochs"]), source_seed(manifest["seed"], name)
        )
        for name, e in manifest["sources"].items()
    ]
    shards = write_shards(manifest, streams, opts, dtype, stats)
    save_tokenizer(tokenizer, out)
    info = {
        "format_version": PACK_FORMAT_VERSION,
        "seq_len": int(manifest["seq_len"]),
        "dtype": dtype,
        "vocab_size": vocab,
        "eos_token_id": int(tokenizer.eos_token_id),
        "tokenizer": manifest["tokenizer"],
        "tokenizer_fingerprint": tok_fp,
        "manifest_fingerprint": manifest["fingerprint"],
        "seed": int(manifest["seed"]),
        "num_sequences": int(manifest["num_sequences"]),
        "num_tokens": int(manifest["total_tokens"]),
        "sources": list(manifest["sources"]),
        "tokens_per_source": {n: int(e["tokens"]) for n, e in manifest["sources"].items()},
        "phases": [{"name": p["name"], "num_sequences": int(p["num_sequences"])} for p in manifest["phases"]],
        "shards": shards,
    }
    atomic_write_json(out / PACK_INFO_FILE, info)
    stats.add("tokens_packed", info["num_tokens"])
    save_stats(out, stats.to_dict())
    realised = stats.counters["sequences_per_source"]
    bar_plot(
        info["sources"],
        [realised.get(n, 0) * info["seq_len"] for n in info["sources"]],
        run_dir(out) / "tokens_by_source.png",
        "packed tokens by source",
        "tokens",
    )
    return info
