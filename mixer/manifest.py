"""`curation mix`: compile a mixture spec into ``manifest.json``, the exact token plan per phase/source."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.executor import map_items
from curation.io import atomic_write_json
from curation.schema import MANIFEST_FILE, MANIFEST_VERSION, RUN_DIR, TOKEN_CACHE_DIR
from mixer.plan import SourceCapacity, allocate
from mixer.schedule import largest_remainder
from mixer.sources import ReadOptions, check_columns, source_files
from mixer.spec import RUN_KEYS, MixSpec
from mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size
from mixer.tokens import FileItem, cache_key, cache_paths, cache_record, token_dtype, tokenize_file


def fingerprint(obj: Any) -> str:
    """sha256 hex of the canonical JSON of ``obj``."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def read_options(spec: MixSpec, name: str) -> ReadOptions:
    src = spec.sources[name]
    return ReadOptions(name, src.filter, src.text_column, src.upweight_by, src.upweight_power)


def source_items(spec: MixSpec) -> list[FileItem]:
    """(file, read options) for every source, with every column the source reads checked up front."""
    items: list[FileItem] = []
    for name, src in spec.sources.items():
        opts = read_options(spec, name)
        for path in source_files(src.paths, name):
            check_columns(path, opts)
            items.append((path, opts))
    return items


def _source_entry(spec: MixSpec, name: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    src = spec.sources[name]
    return {
        "filter": src.filter,
        "text_column": src.text_column,
        "upweight_by": src.upweight_by,
        "upweight_power": src.upweight_power,
        "max_epochs": src.max_epochs,
        "files": files,
        "rows": sum(f["rows"] for f in files),
        "available_tokens": sum(f["available_tokens"] for f in files),
    }


def compile_manifest(spec: MixSpec, counts: dict[str, list[dict[str, Any]]], tok_fp: str) -> dict[str, Any]:
    """The manifest body from per-file counts: allocation per phase, then per-source totals and epochs."""
    sources = {name: _source_entry(spec, name, counts.get(name, [])) for name in spec.sources}
    for name, entry in sources.items():
        if entry["available_tokens"] == 0 and any(spec.phase_weights(p)[name] > 0 for p in spec.phase_list()):
            raise CurationError(f"source '{name}' has no documents left after its filter")
    num_sequences = spec.total_tokens // spec.seq_len
    phases = spec.phase_list()
    phase_seqs = dict(
        zip(
            [p.name for p in phases], largest_remainder(num_sequences, [p.share for p in phases]), strict=True
        )
    )
    weights = {p.name: spec.phase_weights(p) for p in phases}
    caps = {n: SourceCapacity(n, e["available_tokens"], e["max_epochs"]) for n, e in sources.items()}
    alloc = allocate(phase_seqs, weights, caps, spec.seq_len, spec.allow_renormalize)
    for name, entry in sources.items():
        seqs = sum(alloc[p][name] for p in alloc)
        entry["sequences"] = seqs
        entry["tokens"] = seqs * spec.seq_len
        entry["epochs"] = (
            round(entry["tokens"] / entry["available_tokens"], 6) if entry["available_tokens"] else 0.0
        )
        entry["share"] = round(seqs / num_sequences, 6)
    files = sorted({(f["path"], f["size_bytes"], f["mtime_ns"]) for fs in counts.values() for f in fs})
    plan = spec.model_dump(exclude=set(RUN_KEYS))
    body = {
        "manifest_version": MANIFEST_VERSION,
        "tokenizer": spec.tokenizer,
        "tokenizer_fingerprint": tok_fp,
        "inputs_fingerprint": fingerprint(files),
        "seed": spec.seed,
        "seq_len": spec.seq_len,
        "requested_total_tokens": spec.total_tokens,
        "total_tokens": num_sequences * spec.seq_len,
        "num_sequences": num_sequences,
        "phases": [
            {
                "name": p.name,
                "share": p.share,
                "num_sequences": phase_seqs[p.name],
                "weights": weights[p.name],
                "sequences": alloc[p.name],
                "tokens": {n: s * spec.seq_len for n, s in alloc[p.name].items()},
            }
            for p in phases
        ],
        "sources": sources,
        "spec": plan,
    }
    return {"fingerprint": fingerprint(body), **body}


def count_sources(
    spec: MixSpec, items: list[FileItem], cache_dir: str | os.PathLike[str]
) -> dict[str, list[dict[str, Any]]]:
    """Exact token counts per source and file (one Ray task per file, token caches written on the way).

    Files whose cache a previous (or killed) run completed are not tokenized again.
    """
    tokenizer = load_tokenizer(spec.tokenizer)
    tok_fp = tokenizer_fingerprint(tokenizer)
    paths = {item: cache_paths(cache_dir, cache_key(item, tok_fp)) for item in items}
    results = {item: cache_record(p) for item, p in paths.items() if p["done"].exists()}
    todo = [item for item in items if item not in results]
    results |= dict(
        map_items(
            tokenize_file,
            todo,
            spec.tokenizer,
            os.fspath(cache_dir),
            tok_fp,
            token_dtype(vocab_size(tokenizer)),
            executor=spec.executor if todo else "local",  # no Ray start for nothing
            ray_address=spec.ray_address,
            workers=spec.workers,
            description="counting tokens",
            info=lambda r: f"{r['tokens']:,} tokens",
        )
    )
    counts: dict[str, list[dict[str, Any]]] = {}
    for path, opts in items:
        counts.setdefault(opts.source, []).append(results[(path, opts)])
    return counts


def build_manifest(spec: MixSpec, output: str | os.PathLike[str]) -> dict[str, Any]:
    """Count every source's tokens (caching them under ``<output>/_run/token_cache``) and plan the mixture."""
    tok_fp = tokenizer_fingerprint(load_tokenizer(spec.tokenizer))
    cache_dir = Path(output) / RUN_DIR / TOKEN_CACHE_DIR
    return compile_manifest(spec, count_sources(spec, source_items(spec), cache_dir), tok_fp)


def write_manifest(manifest: dict[str, Any], output: str | os.PathLike[str]) -> Path:
    path = Path(output) / MANIFEST_FILE
    atomic_write_json(path, manifest)
    return path


def load_manifest(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a manifest (a file or the directory holding ``manifest.json``) and check its version."""
    p = Path(path)
    p = p / MANIFEST_FILE if p.is_dir() else p
    if not p.is_file():
        raise CurationError(f"manifest not found: {path}")
    manifest = json.loads(p.read_text())
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise CurationError(f"unsupported manifest_version {manifest.get('manifest_version')}: {p}")
    return manifest


def run_mix(spec: MixSpec, output: str | os.PathLike[str]) -> dict[str, Any]:
    """Compile ``spec`` into ``<output>/manifest.json`` with the run evidence (config, stats, a plot)."""
    from curation.plots import bar_plot
    from curation.runinfo import run_dir, save_config, save_stats

    save_config(output, "mix", spec.model_dump())
    manifest = build_manifest(spec, output)
    write_manifest(manifest, output)
    sources = manifest["sources"]
    save_stats(
        output,
        {
            "num_sequences": manifest["num_sequences"],
            "total_tokens": manifest["total_tokens"],
            "files": sum(len(e["files"]) for e in sources.values()),
            "rows": {n: e["rows"] for n, e in sources.items()},
            "available_tokens": {n: e["available_tokens"] for n, e in sources.items()},
            "tokens": {n: e["tokens"] for n, e in sources.items()},
            "epochs": {n: e["epochs"] for n, e in sources.items()},
        },
    )
    labels = [f"{p['name']}/{n}" for p in manifest["phases"] for n in p["tokens"]]
    values = [t for p in manifest["phases"] for t in p["tokens"].values()]
    bar_plot(labels, values, run_dir(output) / "tokens_by_phase_source.png", "planned tokens", "tokens")
    return manifest
