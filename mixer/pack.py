"""`curation pack`: tokenize a manifest's sources and write interleaved fixed-length sequences as shards.

Each sequence holds ``seq_len`` tokens of one source's stream (documents back to back, EOS after each).
A source's stream is its documents in shuffled passes (repetitions per the manifest's epochs and
up-weights), cut into sequences; each phase interleaves its sources' sequences evenly (see
``mixer.schedule.interleave``) and shuffles which of a source's sequences fills which of its slots.
Each shard is one unit of work, so a killed pack resumes where it stopped.
"""

from __future__ import annotations

import tempfile
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from curation.core import io
from curation.core.config import RUNTIME, ParallelConfig, StageConfig
from curation.core.errors import CurationError
from curation.core.schema import PACK_FORMAT_VERSION, PACK_INFO_FILE, PACK_SHARD_ARRAYS, PACK_TOKENIZER_DIR
from curation.core.stage import Run, Stage, Unit, UnitResult
from curation.mixer.schedule import interleave, repetition_order

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
        "tokens": tokens,
        "sources": slot_source[rows.start : rows.stop].copy(),
        "doc_starts": np.concatenate(starts) if starts else np.zeros(0, np.int32),
        "doc_index": np.asarray(index, dtype=np.int64),
    }


def shard_entry(index: int, num_sequences: int) -> dict[str, Any]:
    stem = SHARD_STEM.format(index=index)
    return {"num_sequences": num_sequences, **{key: f"{stem}.{key}.npy" for key in PACK_SHARD_ARRAYS}}


def shard_ranges(num_sequences: int, sequences_per_shard: int) -> list[range]:
    return [
        range(lo, min(lo + sequences_per_shard, num_sequences))
        for lo in range(0, num_sequences, sequences_per_shard)
    ]


class PackConfig(StageConfig, ParallelConfig):
    """Tokenize a manifest's sources and write interleaved fixed-length sequences as memmap shards."""

    manifest: str = Field(
        description="manifest.json of `curation mix` (or its folder).", json_schema_extra={"short": "-m"}
    )
    sequences_per_shard: int = Field(8192, gt=0, description="Sequences per token shard.")
    token_cache: str | None = Field(
        None,
        description="Token cache folder (default: the manifest's, filled by mix).",
        json_schema_extra=RUNTIME,
    )


def check_inputs_unchanged(manifest: dict[str, Any]) -> None:
    for name, entry in manifest["sources"].items():
        for f in entry["files"]:
            if not io.exists(f["path"]):
                raise CurationError(
                    f"source '{name}': input missing since the manifest was written: {f['path']}"
                )
            if io.identity(f["path"]) != {k: f[k] for k in ("path", "size_bytes", "modified")}:
                raise CurationError(
                    f"source '{name}': input changed since the manifest was written: {f['path']}"
                )


def load_sources(
    run: Run, manifest: dict[str, Any], token_cache: str
) -> dict[str, list[dict[str, np.ndarray]]]:
    """Token arrays of every (source, file): from the token cache (filled by `curation mix`, or by a killed
    pack), else tokenized now in parallel; each file's token count is checked against the manifest."""
    from curation.mixer.manifest import count_tokens
    from curation.mixer.sources import ReadOptions
    from curation.mixer.tokens import cache_key, open_cache

    items = [(f["path"], ReadOptions(**e["read"])) for e in manifest["sources"].values() for f in e["files"]]
    counts = count_tokens(run, items, manifest["tokenizer"], token_cache)
    planned = {(f["path"], name): f["tokens"] for name, e in manifest["sources"].items() for f in e["files"]}
    out: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in manifest["sources"]}
    for item in items:
        path, opts = item
        if counts[item]["tokens"] != planned[(path, opts.source)]:
            raise CurationError(f"source '{opts.source}': token count of {path} differs from the manifest")
        out[opts.source].append(open_cache(token_cache, cache_key(item, manifest["tokenizer_fingerprint"])))
    return out


def save_tokenizer(tokenizer: Any, output: str) -> None:
    """``save_pretrained`` into a local temporary folder, then published as ``<output>/tokenizer``."""
    tmp = tempfile.mkdtemp(prefix=".tokenizer-", dir=None if io.is_remote(output) else io.local_path(output))
    tokenizer.save_pretrained(tmp)
    io.publish_dir(tmp, io.join(output, PACK_TOKENIZER_DIR))


@dataclass
class Layout:
    """What every shard unit reads: the source streams and, per global sequence, its source and chunk."""

    streams: list[SourceStream]
    slot_source: np.ndarray
    slot_chunk: np.ndarray
    seq_len: int
    dtype: str
    output: str


def write_shard(item: tuple[int, range], layout: Layout) -> UnitResult:
    index, rows = item
    entry = shard_entry(index, len(rows))
    arrays = shard_arrays(
        rows, layout.slot_source, layout.slot_chunk, layout.streams, layout.seq_len, layout.dtype
    )
    outputs = []
    for name, array in arrays.items():
        outputs.append(io.join(layout.output, entry[name]))
        io.write_npy(outputs[-1], array)
    return UnitResult(outputs=outputs, result=entry)


class Pack(Stage[PackConfig]):
    """Tokenize a manifest's sources and write interleaved fixed-length sequences (memmap shards, pack.json,
    tokenizer/)."""

    name = "pack"
    config_model = PackConfig

    def __init__(self, cfg: PackConfig) -> None:
        super().__init__(cfg)
        from curation.mixer.manifest import load_manifest

        self.manifest = load_manifest(cfg.manifest)

    def inputs_fingerprint(self) -> Any:
        return self.manifest["fingerprint"]

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size
        from curation.mixer.tokens import token_dtype

        manifest, cfg = self.manifest, self.cfg
        tokenizer = load_tokenizer(manifest["tokenizer"])
        tok_fp = tokenizer_fingerprint(tokenizer)
        if tok_fp != manifest["tokenizer_fingerprint"]:
            raise CurationError(
                f"tokenizer {manifest['tokenizer']} differs from the one the manifest was planned with"
            )
        check_inputs_unchanged(manifest)
        vocab = vocab_size(tokenizer)
        dtype = token_dtype(vocab)
        caches = load_sources(run, manifest, cfg.token_cache or manifest["token_cache"])
        streams = [
            SourceStream.build(
                caches[name], int(e["tokens"]), float(e["max_epochs"]), source_seed(manifest["seed"], name)
            )
            for name, e in manifest["sources"].items()
        ]
        slot_source, slot_chunk = slot_plan(manifest)
        layout = Layout(streams, slot_source, slot_chunk, int(manifest["seq_len"]), dtype, cfg.output)
        ranges = shard_ranges(len(slot_source), cfg.sequences_per_shard)
        units = [Unit(SHARD_STEM.format(index=i), (i, rows)) for i, rows in enumerate(ranges)]
        records = run.map("shards", units, write_shard, layout, in_process=True, description="packing")
        names = list(manifest["sources"])
        for s, n in zip(*np.unique(slot_source, return_counts=True), strict=True):
            run.stats.count("sequences_per_source", names[int(s)], int(n))
        save_tokenizer(tokenizer, cfg.output)
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
            "sources": names,
            "tokens_per_source": {n: int(e["tokens"]) for n, e in manifest["sources"].items()},
            "phases": [
                {"name": p["name"], "num_sequences": int(p["num_sequences"])} for p in manifest["phases"]
            ],
            "shards": [records[u.key]["result"] for u in units],
        }
        io.write_json(io.join(cfg.output, PACK_INFO_FILE), info)
        return {k: info[k] for k in ("num_sequences", "num_tokens", "seq_len", "tokens_per_source")}

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        from curation.core.plots import bar_plot

        realised = stats["counters"]["sequences_per_source"]
        seq_len = stats["summary"]["seq_len"]
        names = list(self.manifest["sources"])
        tokens = [realised.get(n, 0) * seq_len for n in names]
        bar_plot(
            names, tokens, io.join(run.run_dir, "tokens_by_source.png"), "packed tokens by source", "tokens"
        )

    def render(self, stats: dict[str, Any]) -> Any:
        from curation.mixer.manifest import table

        s = stats["summary"]
        rows = [[n, t] for n, t in s["tokens_per_source"].items()]
        return table(
            f"{self.cfg.output}: {s['num_sequences']:,} sequences of {s['seq_len']}",
            ["source", "tokens"],
            rows,
        )
