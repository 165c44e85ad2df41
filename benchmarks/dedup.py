"""MinHash near-dedup: `curation dedup` versus datasketch MinHashLSH (plain use) and datatrove's four MinHash
stages, on the same corpus in one run.

Corpus: the real labelled near-duplicates (../shared/data/dedup/near_duplicates, 1,170 docs) plus distinct
real documents cut from ../shared/data/text/ (Machado de Assis, US addresses, CCNet head, UDHR in 389
languages) as non-overlapping windows of --window-words words, up to --docs documents, in --shards
Parquet shards.
All three use 128 permutations, 14 bands x 9 rows (the optimum for threshold 0.7) and word 5-grams.
Each method runs in its own process tree; peak memory is the largest summed RSS of that tree (sampled every
50 ms) and the largest single process. F1 is pairwise on the labelled part: (a) against the exact-Jaccard
truth at 0.7, (b) against the raw labels.

    python benchmarks/dedup.py --docs 100000 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.dedup_eval` (run as a script, only benchmarks/ is on the path)
DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
LABELLED = DATA / "dedup" / "near_duplicates" / "docs.jsonl.gz"
LABEL_PREFIX = "L:"
NUM_PERM, BANDS, ROWS, NGRAM, THRESHOLD = 128, 14, 9, 5, 0.7
DOCS_PER_PARTITION = 500_000
METHODS = ("curation", "curation-local", "datasketch", "datatrove")


def _text_sources() -> list[str]:
    from curation.core.io import iter_jsonl

    text = DATA / "text"
    files = sorted((text / "pt" / "machado_de_assis").glob("*.txt"))
    files += sorted((text / "en" / "nltk").glob("*/*.txt")) + sorted((text / "multi" / "udhr2").glob("*.txt"))
    docs = [f.read_text(encoding="utf-8", errors="replace") for f in files]
    for path in sorted((text / "en" / "cc_en_head").glob("*.jsonl.gz")):
        docs.extend(r["text"] for r in iter_jsonl(str(path)))
    return docs


def build_corpus(folder: Path, n_docs: int, window_words: int, shards: int, repeat: int = 1) -> pl.DataFrame:
    """Write the corpus shards (repeated ``repeat`` times under new ids, for volume); returns the labelled part."""
    from benchmarks.dedup_eval import load_labelled

    labelled = load_labelled(str(LABELLED)).with_columns((LABEL_PREFIX + pl.col("id")).alias("id"))
    windows: list[str] = []
    for doc in _text_sources():
        words = doc.split()
        windows += [
            " ".join(words[i : i + window_words])
            for i in range(0, len(words) - window_words + 1, window_words)
        ]
    need = n_docs - labelled.height
    if len(windows) < need:
        raise SystemExit(f"only {len(windows)} windows of {window_words} words; lower --window-words")
    step = len(windows) / need
    picked = [windows[int(i * step)] for i in range(need)]
    extra = pl.DataFrame({"id": [f"W:{i:07d}" for i in range(need)], "text": picked})
    corpus = pl.concat([labelled.select("id", "text"), extra])
    copies = [corpus.with_columns(pl.col("id") + f"#{k}") for k in range(1, repeat)]
    corpus = pl.concat([corpus, *copies]).sample(fraction=1.0, shuffle=True, seed=0)
    src = folder / "corpus"
    src.mkdir(parents=True, exist_ok=True)
    size = -(-corpus.height // shards)
    for k in range(shards):
        corpus.slice(k * size, size).write_parquet(src / f"part-{k:05d}.parquet")
    return labelled


def _components(ids: list[str], a: list[str], b: list[str]) -> dict[str, int]:
    from benchmarks.dedup_eval import components

    index = {x: i for i, x in enumerate(ids)}
    labels = components(
        len(ids), np.array([index[x] for x in a], np.int64), np.array([index[x] for x in b], np.int64)
    )
    return dict(zip(ids, labels.tolist(), strict=True))


def run_curation(work: Path, workers: int, executor: str, docs_per_partition: int) -> dict[str, int]:
    from curation.dedup.stage import Dedup

    out = work / f"out-{executor}"
    Dedup.call(
        input=[str(work / "corpus")],
        output=str(out),
        executor=executor,
        workers=workers,
        exact={"enabled": False},
        url={"enabled": False},
        write_removed=True,
        minhash={"bands": BANDS, "rows": ROWS},
        docs_per_partition=docs_per_partition,
    )
    kept = pl.read_parquet(out / "*.parquet", columns=["id"])
    removed = pl.read_parquet(out / "removed" / "*.parquet", columns=["id", "dup_survivor_id"])
    ids = kept["id"].to_list() + removed["id"].to_list()
    return _components(ids, removed["id"].to_list(), removed["dup_survivor_id"].to_list())


def run_datasketch(work: Path) -> dict[str, int]:
    from datasketch import MinHash, MinHashLSH

    corpus = pl.read_parquet(work / "corpus" / "*.parquet")
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    hashes = []
    for doc_id, text in zip(corpus["id"], corpus["text"], strict=True):
        words = re.findall(r"\w+", text.lower())
        grams = {" ".join(words[i : i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))}
        m = MinHash(num_perm=NUM_PERM)
        m.update_batch([g.encode("utf-8") for g in grams])
        lsh.insert(doc_id, m)
        hashes.append(m)
    a, b = [], []
    for doc_id, m in zip(corpus["id"], hashes, strict=True):
        for other in lsh.query(m):
            a.append(doc_id)
            b.append(other)
    return _components(corpus["id"].to_list(), a, b)


def run_datatrove(work: Path, workers: int) -> dict[str, int]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    cfg = MinhashConfig(
        n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS, hash_config=HashConfig(precision=64)
    )
    dt = work / "datatrove"
    shards = len(list((work / "corpus").glob("*.parquet")))

    def reader() -> ParquetReader:
        return ParquetReader(str(work / "corpus"), text_key="text", id_key="id")

    stages = [
        ([reader(), MinhashDedupSignature(output_folder=str(dt / "sigs"), config=cfg)], shards),
        (
            [
                MinhashDedupBuckets(
                    input_folder=str(dt / "sigs"), output_folder=str(dt / "buckets"), config=cfg
                )
            ],
            BANDS,
        ),
        (
            [
                MinhashDedupCluster(
                    input_folder=str(dt / "buckets"),
                    output_folder=str(dt / "remove"),
                    config=cfg,
                    save_cluster_id=True,
                )
            ],
            1,
        ),
        (
            [
                reader(),
                MinhashDedupFilter(
                    input_folder=str(dt / "remove"),
                    load_cluster_ids=True,
                    exclusion_writer=JsonlWriter(str(dt / "removed")),
                ),
                JsonlWriter(str(dt / "kept")),
            ],
            shards,
        ),
    ]
    for k, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(
            pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(dt / f"logs{k}")
        ).run()
    docs = pl.concat(
        [pl.read_ndjson(f) for part in ("kept", "removed") for f in sorted((dt / part).glob("*"))],
        how="diagonal_relaxed",
    )
    cluster = docs["metadata"].struct.field("minhash_cluster_id").to_list()
    ids = docs["id"].to_list()
    keys = [f"c{c}" if c != -1 else f"s{doc}" for c, doc in zip(cluster, ids, strict=True)]
    return dict(zip(ids, keys, strict=True))


def worker(method: str, work: Path, workers: int, docs_per_partition: int) -> None:
    """Run one method in this process (and its children); write its assignment and wall time."""
    start = time.perf_counter()
    if method == "curation":
        assign = run_curation(work, workers, "ray", docs_per_partition)
    elif method == "curation-local":
        assign = run_curation(work, workers, "local", docs_per_partition)
    elif method == "datasketch":
        assign = run_datasketch(work)
    else:
        assign = run_datatrove(work, workers)
    seconds = time.perf_counter() - start
    labelled = {k: str(v) for k, v in assign.items() if k.startswith(LABEL_PREFIX)}
    (work / f"{method}.json").write_text(
        json.dumps({"seconds": seconds, "docs": len(assign), "labels": labelled})
    )


def measure(method: str, work: Path, workers: int, docs_per_partition: int = DOCS_PER_PARTITION) -> dict:
    """Run ``worker`` in a subprocess while sampling the RSS of its whole process tree."""
    import psutil

    proc = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--worker",
            method,
            "--work",
            str(work),
            "--workers",
            str(workers),
            "--docs-per-partition",
            str(docs_per_partition),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak = {"tree": 0, "single": 0}

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                rss = [p.memory_info().rss for p in [root, *root.children(recursive=True)]]
            except psutil.Error:
                continue
            peak["tree"] = max(peak["tree"], sum(rss))
            peak["single"] = max(peak["single"], max(rss))
            time.sleep(0.05)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"{method} failed:\n{err.decode()[-3000:]}")
    result = json.loads((work / f"{method}.json").read_text())
    return {**result, "peak_tree_mb": peak["tree"] / 2**20, "peak_process_mb": peak["single"] / 2**20}


def score(result: dict, labelled: pl.DataFrame) -> dict:
    from benchmarks.dedup_eval import labelled_pairs, prf, threshold_truth

    pred = [result["labels"][doc_id] for doc_id in labelled["id"]]
    truth = threshold_truth(labelled.height, labelled_pairs(labelled, NGRAM), THRESHOLD)
    return {
        "f1_vs_jaccard_truth": prf(pred, truth)["f1"],
        "f1_vs_labels": prf(pred, labelled["label"].to_list())["f1"],
    }


def scaling(args: argparse.Namespace) -> None:
    """The corpus repeated 1, 2 and 4 times (shards grow in number, not size): partitions fixed at 2 versus
    partitions growing with the corpus (50,000 documents each)."""
    rows = {}
    for repeat in (1, 2, 4):
        work = args.work / f"repeat{repeat}"
        build_corpus(work, args.docs, args.window_words, args.shards * repeat, repeat)
        for name, per_partition in (("P=2", args.docs * repeat), ("P=docs/50k", 50_000)):
            result = measure("curation-local", work, args.workers, per_partition)
            rows[f"{args.docs * repeat} docs, {name}"] = row = {
                "seconds": round(result["seconds"], 1),
                "peak_process_mb": round(result["peak_process_mb"]),
            }
            print(f"{args.docs * repeat:,} docs, {name}: {row}", flush=True)
    (args.work / "scaling.json").write_text(json.dumps(rows, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--window-words", type=int, default=20)
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curation-bench-dedup"))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--docs-per-partition", type=int, default=DOCS_PER_PARTITION)
    parser.add_argument(
        "--scaling", action="store_true", help="Peak memory of curation-local as the corpus grows."
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.work, args.workers, args.docs_per_partition)
        return
    if args.scaling:
        scaling(args)
        return
    labelled = build_corpus(args.work, args.docs, args.window_words, args.shards)
    print(
        f"corpus: {args.docs:,} docs ({labelled.height:,} labelled) in {args.shards} shards, "
        f"{args.workers} workers"
    )
    rows = {}
    for method in args.methods.split(","):
        result = measure(method, args.work, args.workers)
        rows[method] = {
            "seconds": round(result["seconds"], 1),
            "peak_tree_mb": round(result["peak_tree_mb"]),
            "peak_process_mb": round(result["peak_process_mb"]),
            **score(result, labelled),
        }
        print(method, rows[method], flush=True)
    ref = rows.get("curation")
    if ref:
        for method, row in rows.items():
            if method != "curation":
                print(
                    f"{method}/curation: time x{row['seconds'] / ref['seconds']:.2f}, "
                    f"tree memory x{row['peak_tree_mb'] / ref['peak_tree_mb']:.2f}, "
                    f"process memory x{row['peak_process_mb'] / ref['peak_process_mb']:.2f}"
                )
    (args.work / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
