"""The sample pipeline whose outputs must not change when the code is reshaped: build -> score -> dedup ->
mix -> pack on the real sample data, run in-process as `Stage.call`, and a canonical digest
of each stage's output (tables compared by content: rows sorted by id, columns by name; token arrays by value).

``python -m tests.regression.pipeline OUT DATA`` runs it and prints the digests as JSON; ``golden.json`` beside this
file holds the digests of the code as it was before the stage redesign (commit fa93571), so
``test_stage_outputs_regression.py`` fails as soon as any stage writes something else.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curation.core.schema import WARC_PATH

SEQ_LEN = 64
TOTAL_TOKENS = 30_000


def _value(v: Any) -> Any:
    if isinstance(v, float):
        return float.hex(v)
    if isinstance(v, list):
        return [_value(x) for x in v]
    return v


def table_digest(files: list[Path], exclude: tuple[str, ...] = ()) -> dict[str, Any]:
    """Rows (sorted by id) and schema (sorted by column name) of Parquet ``files``, as one sha256; columns in
    ``exclude`` are left out, and WARC paths count by file name (the data folder's location is not an output)."""
    tables = [pq.read_table(f) for f in sorted(files)]
    if not tables:
        return {"rows": 0, "sha256": None}
    table = pa.concat_tables(tables)
    names = sorted(set(table.column_names) - set(exclude))
    table = table.select(names).sort_by([("id", "ascending")])
    h = hashlib.sha256()
    h.update(json.dumps([(n, str(table.schema.field(n).type)) for n in names]).encode())
    for row in table.to_pylist():
        if row.get(WARC_PATH):
            row[WARC_PATH] = Path(row[WARC_PATH]).name
        h.update(json.dumps([_value(row[n]) for n in names], ensure_ascii=False).encode())
    return {"rows": table.num_rows, "sha256": h.hexdigest()}


def pack_digest(folder: Path) -> dict[str, Any]:
    """Token, source and document-boundary arrays of a packed folder, in shard order, by value."""
    info = json.loads((folder / "pack.json").read_text())
    h = hashlib.sha256()
    for shard in info["shards"]:
        for key in ("tokens", "sources", "doc_starts", "doc_index"):
            h.update(np.ascontiguousarray(np.load(folder / shard[key])).tobytes())
    keep = (
        "seq_len",
        "dtype",
        "vocab_size",
        "eos_token_id",
        "num_sequences",
        "num_tokens",
        "tokens_per_source",
    )
    return {"sha256": h.hexdigest(), **{k: info[k] for k in keep}}


def manifest_digest(folder: Path) -> dict[str, Any]:
    """The token plan of a manifest (paths, file times and fingerprints left out)."""
    m = json.loads((folder / "manifest.json").read_text())
    sources = {
        name: {k: e[k] for k in ("rows", "available_tokens", "tokens", "sequences", "epochs", "share")}
        for name, e in m["sources"].items()
    }
    phases = [{k: p[k] for k in ("name", "num_sequences", "sequences", "tokens")} for p in m["phases"]]
    return {"num_sequences": m["num_sequences"], "sources": sources, "phases": phases}


def run(out: Path, data: Path) -> dict[str, Any]:
    """Run the pipeline into ``out`` in-process (local executor) and digest every stage's output."""
    from curation.builder.stage import Build
    from curation.dedup.stage import Dedup
    from curation.filters.score import Score
    from curation.filters.training import ClassifierTrain
    from curation.mixer.manifest import Mix
    from curation.mixer.pack import Pack

    warcs = sorted((data / "warc").glob("*.warc.gz")) + sorted((data / "bench").glob("*.warc.gz"))
    build, build_de = out / "build", out / "build-de"
    Build.call(
        lang=["pt"], input=[str(w) for w in warcs], output=str(build), keep_rejected=True, executor="local"
    )
    bench0 = data / "bench" / "CC-MAIN-BENCH-dev-00000.warc.gz"
    Build.call(lang=["de"], input=[str(bench0)], output=str(build_de), executor="local")
    edu, score, dedup = out / "edu", out / "score", out / "dedup"
    labels = data / "labels" / "web_docs_llm_judged.jsonl"
    ClassifierTrain.call(task="edu", data=str(labels), label_column="edu", output=str(edu))
    Score.call(
        input=[str(build / "pt")],
        output=str(score),
        classifier=[str(edu)],
        badwords=[str(data / "toxicity")],
        executor="local",
    )
    Dedup.call(input=[str(score)], output=str(dedup), write_removed=True, executor="local")
    tokenizer = data / "tokenizers" / "dolma_test_tokenizers" / "gpt-neo-test-tokenizer.json"
    en = data / "text" / "en" / "cc_en_head" / "cc_en_head-0091.jsonl.gz"
    Mix.call(
        tokenizer=str(tokenizer),
        seq_len=SEQ_LEN,
        total_tokens=TOTAL_TOKENS,
        seed=0,
        allow_renormalize=True,
        executor="local",
        sources={  # source order decides the interleaving: the golden run read them from a sorted YAML file
            "en": {"paths": [str(en)], "weight": 0.25, "max_epochs": 4},
            "pt": {"paths": [str(dedup)], "weight": 0.75, "max_epochs": 4},
        },
        output=str(out / "mix"),
    )
    Pack.call(manifest=str(out / "mix"), output=str(out / "pack"), executor="local")
    return {
        "build_kept": table_digest(list((build / "pt").glob("*.parquet"))),
        "build_rejected": table_digest(list((build / "rejected").glob("*.parquet"))),
        "build_de": table_digest(list((build_de / "de").glob("*.parquet"))),
        "score": table_digest(list(score.rglob("*.parquet"))),
        "dedup_kept": table_digest([p for p in dedup.rglob("*.parquet") if "removed" not in p.parts]),
        "dedup_removed": table_digest(list((dedup / "removed").rglob("*.parquet"))),
        "mix": manifest_digest(out / "mix"),
        "pack": pack_digest(out / "pack"),
    }


if __name__ == "__main__":
    print(json.dumps(run(Path(sys.argv[1]), Path(sys.argv[2])), indent=2))
