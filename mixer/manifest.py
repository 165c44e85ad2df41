"""`curation mix`: compile a mixture spec into ``manifest.json``, the exact token plan per phase and source.

Tokens are counted exactly with the target tokenizer, one unit per file (in parallel on Ray); the token ids
are kept in the shared token cache, where `curation pack` finds them.
"""

from __future__ import annotations

from dataclasses import asdict
from io import StringIO
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table

from curation.core import io
from curation.core.config import fingerprint
from curation.core.errors import CurationError
from curation.core.schema import MANIFEST_FILE, MANIFEST_VERSION, SUMMARY_FILE, TOKEN_CACHE_DIR
from curation.core.stage import Run, Stage
from curation.mixer.spec import MixSpec

FileCounts = dict[str, list[dict[str, Any]]]


def source_items(spec: MixSpec) -> list[tuple[str, Any]]:
    """(file, read options) for every source, with every column the source reads checked up front."""
    from curation.mixer.sources import check_columns, source_files

    items = []
    for name, src in spec.sources.items():
        opts = src.read_options(name)
        for path in source_files(src.paths, name):
            check_columns(path, opts)
            items.append((path, opts))
    return items


def _source_entry(spec: MixSpec, name: str, files: list[dict[str, Any]]) -> dict[str, Any]:
    src = spec.sources[name]
    return {
        "read": asdict(src.read_options(name)),
        "max_epochs": src.max_epochs,
        "files": files,
        "rows": sum(f["rows"] for f in files),
        "available_tokens": sum(f["available_tokens"] for f in files),
    }


def compile_manifest(spec: MixSpec, counts: FileCounts, tok_fp: str, token_cache: str) -> dict[str, Any]:
    """The manifest body from per-file counts: allocation per phase, then per-source totals and epochs."""
    from curation.mixer.plan import SourceCapacity, allocate
    from curation.mixer.schedule import largest_remainder

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
    files = sorted({(f["path"], f["size_bytes"], f["modified"]) for fs in counts.values() for f in fs})
    plan = spec.model_dump(
        mode="json",
        exclude={"output", "executor", "workers", "ray_address", "token_cache", "storage_options"},
    )
    body = {
        "manifest_version": MANIFEST_VERSION,
        "tokenizer": spec.tokenizer,
        "tokenizer_fingerprint": tok_fp,
        "inputs_fingerprint": fingerprint(files),
        "token_cache": token_cache,
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
    return {"fingerprint": fingerprint({k: v for k, v in body.items() if k != "token_cache"}), **body}


def count_tokens(
    run: Run, items: list[tuple[str, Any]], tokenizer: str, token_cache: str
) -> dict[tuple, dict[str, Any]]:
    """Token counts of every (file, read options), from the shared cache or tokenized now (one unit per
    file); returns each item's cache record result."""
    from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint, vocab_size
    from curation.mixer.tokens import cache_units, token_dtype, tokenize_file

    tok = load_tokenizer(tokenizer)
    tok_fp = tokenizer_fingerprint(tok)
    units = cache_units(items, tok_fp)
    records = run.map(
        "tokenize",
        units,
        tokenize_file,
        tokenizer,
        tok_fp,
        token_cache,
        token_dtype(vocab_size(tok)),
        records_dir=token_cache,
        description="counting tokens",
        info=lambda r: f"{r.result['tokens']:,} tokens",
    )
    return {unit.item: records[unit.key]["result"] for unit in units}


def load_manifest(path: str) -> dict[str, Any]:
    """Read a manifest (a file or the directory holding ``manifest.json``) and check its version."""
    p = io.join(path, MANIFEST_FILE) if io.is_dir(path) else path
    if not io.exists(p):
        raise CurationError(f"manifest not found: {path}")
    manifest = io.read_json(p)
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise CurationError(f"unsupported manifest_version {manifest.get('manifest_version')}: {p}")
    return manifest


class Mix(Stage[MixSpec]):
    """Compile a mixture spec into manifest.json: exact tokens per phase and source."""

    name = "mix"
    config_model = MixSpec
    config_flags = ("--spec", "-s", "--config", "-c")

    @property
    def token_cache(self) -> str:
        return self.cfg.token_cache or io.join(self.cfg.output, TOKEN_CACHE_DIR)

    def run(self, run: Run) -> dict[str, Any]:
        from curation.mixer.tokenizer import load_tokenizer, tokenizer_fingerprint

        spec = self.cfg
        items = source_items(spec)
        counts_by_item = count_tokens(run, items, spec.tokenizer, self.token_cache)
        counts: FileCounts = {}
        for item in items:
            counts.setdefault(item[1].source, []).append(counts_by_item[item])
        tok_fp = tokenizer_fingerprint(load_tokenizer(spec.tokenizer))
        manifest = compile_manifest(spec, counts, tok_fp, self.token_cache)
        io.write_json(io.join(spec.output, MANIFEST_FILE), manifest)
        sources = manifest["sources"]
        return {
            "num_sequences": manifest["num_sequences"],
            "total_tokens": manifest["total_tokens"],
            "files": sum(len(e["files"]) for e in sources.values()),
            "rows": {n: e["rows"] for n, e in sources.items()},
            "available_tokens": {n: e["available_tokens"] for n, e in sources.items()},
            "tokens": {n: e["tokens"] for n, e in sources.items()},
            "epochs": {n: e["epochs"] for n, e in sources.items()},
        }

    def plot(self, stats: dict[str, Any], run: Run) -> None:
        """A bar plot of planned tokens, and the printed tables as ``summary.txt`` beside the manifest."""
        from curation.core.plots import bar_plot

        manifest = load_manifest(self.cfg.output)
        labels = [f"{p['name']}/{n}" for p in manifest["phases"] for n in p["tokens"]]
        values = [t for p in manifest["phases"] for t in p["tokens"].values()]
        bar_plot(
            labels, values, io.join(run.run_dir, "tokens_by_phase_source.png"), "planned tokens", "tokens"
        )
        recorder = Console(record=True, file=StringIO(), width=120)
        recorder.print(plan_tables(manifest, self.cfg.output))
        io.write_text(io.join(self.cfg.output, SUMMARY_FILE), recorder.export_text())

    def render(self, stats: dict[str, Any]) -> RenderableType:
        return plan_tables(load_manifest(self.cfg.output), self.cfg.output)


def plan_tables(manifest: dict[str, Any], output: str) -> Group:
    """The plan per phase and per source."""
    plan = [
        [p["name"], n, round(p["weights"][n], 4), p["sequences"][n], p["tokens"][n]]
        for p in manifest["phases"]
        for n in p["tokens"]
    ]
    per_source = [
        [
            n,
            len(e["files"]),
            e["rows"],
            e["available_tokens"],
            e["tokens"],
            e["share"],
            e["epochs"],
            e["max_epochs"],
        ]
        for n, e in manifest["sources"].items()
    ]
    return Group(
        table("plan per phase", ["phase", "source", "weight", "sequences", "tokens"], plan),
        table(
            f"{output}/{MANIFEST_FILE} ({manifest['total_tokens']:,} tokens)",
            ["source", "files", "rows", "available_tokens", "tokens", "share", "epochs", "max_epochs"],
            per_source,
        ),
    )


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title)
    for col in columns:
        out.add_column(col, justify="left" if col in ("source", "phase", "lang", "score") else "right")
    for row in rows:
        out.add_row(*[f"{v:,}" if isinstance(v, int) else "" if v is None else str(v) for v in row])
    return out
