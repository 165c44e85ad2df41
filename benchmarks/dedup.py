"""MinHash near-dedup on web-length documents: `curation dedup` versus datasketch MinHashLSH and datatrove's four
MinHash stages, on the same corpus, each method in its own process tree.

Corpus (every document unique): the pages of ../shared/data/bench extracted by `curation build --no-preselect
--keep-rejected` for the 16 languages in BUILD_LANGS (kept and rejected documents alike: 2,203 documents,
median 345 words), plus the 1,170 labelled near-duplicates (../shared/data/dedup/near_duplicates: 120 articles,
each as extracted by up to 10 tools). ``--repeat k`` writes the corpus k times, the copies under new ids: for
volume only (every copy is an exact duplicate of its original, so it joins its original's cluster).

Truth (``benchmarks/dedup_eval.py``, independent of our shingler and hashes): exact Jaccard of word 5-gram
strings (Python's ``\\w+`` words of the lower-cased text) over all pairs, pairs >= 0.7 closed under connected
components. F1 is pairwise over the whole corpus (copies share their original's truth cluster) and, on the
labelled part, against the raw labels.

Settings of each method are in METHODS (all: 128 permutations except datatrove's own 112, word 5-grams,
threshold 0.7; ours with exact and URL dedup off and ``shingle: word``, so every method does MinHash on words
only). Single-process rows run with one thread (POLARS_MAX_THREADS, RAYON_NUM_THREADS, OMP_NUM_THREADS = 1;
datasketch is single-threaded); parallel rows with ``--workers`` single-threaded workers each. Memory is the
peak summed RSS of the method's process tree (sampled every 50 ms) and its largest process; CPU seconds are
summed over the tree.

    python benchmarks/dedup.py --repeat 1                    # time, memory, F1 at the default seed, every method
    python benchmarks/dedup.py --repeat 3 --methods curation,datasketch     # volume (copies), labelled as such
    python benchmarks/dedup.py --seeds 3                     # F1 and pair precision over seeds 1..3

Figures: benchmarks/results/dedup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # `benchmarks.dedup_eval` (run as a script, only benchmarks/ is on the path)

from benchmarks.dedup_eval import (  # noqa: E402
    DATA,
    LABELLED,
    candidate_pairs,
    components,
    jaccard_pairs,
    load_labelled,
    pair_precision,
    pairs_by_index,
    prf,
    record_ids,
    spread,
    threshold_truth,
)

BENCH = DATA / "bench"
BUILD_LANGS = ("en", "de", "es", "fr", "ru", "ja", "pt", "nl", "pl", "it", "nb", "da", "zh", "ko", "hu", "sv")
LABEL_PREFIX, PAGE_PREFIX, COPY_MARK = "L:", "P:", "#"
NUM_PERM, NGRAM, THRESHOLD = 128, 5, 0.7
ONE_THREAD = {"POLARS_MAX_THREADS": "1", "RAYON_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
# name -> (tool, settings); ``workers`` marks the parallel rows, the others run in one process, one thread
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "curation": ("curation", {"executor": "local"}),  # our defaults: 20x6 + exact verification
    "curation-14x9": (
        "curation",
        {"executor": "local", "minhash.bands": 14, "minhash.rows": 9, "minhash.verify": False},
    ),
    "datasketch": ("datasketch", {"bands": 14, "rows": 9, "verify": False}),  # MinHashLSH(0.7, 128)'s own
    "datasketch-20x6+verify": ("datasketch", {"bands": 20, "rows": 6, "verify": True}),
    "datatrove": ("datatrove", {"bands": 14, "rows": 8}),  # its MinhashConfig defaults (112 hashes)
    "datatrove-20x6": ("datatrove", {"bands": 20, "rows": 6}),
    "curation-ray": ("curation", {"executor": "ray", "workers": True}),
    "datatrove-parallel": ("datatrove", {"bands": 14, "rows": 8, "workers": True}),
}
SEED_METHODS = ("curation", "curation-14x9", "datasketch", "datasketch-20x6+verify", "datatrove")


def extracted_pages(folder: Path) -> pl.DataFrame:
    """The bench pages as extracted documents (kept and rejected), built into ``folder`` when missing."""
    files = [f for f in folder.rglob("*.parquet") if "_run" not in f.parts]
    if not files:
        langs = [arg for lang in BUILD_LANGS for arg in ("--lang", lang)]
        cmd = ["curation", "build", "-i", str(BENCH), "-o", str(folder), "--no-preselect", "--keep-rejected"]
        subprocess.run([*cmd, *langs, "--executor", "local", "--workers", "1"], check=True)
        files = [f for f in folder.rglob("*.parquet") if "_run" not in f.parts]
    pages = pl.concat([pl.read_parquet(f, columns=["id", "text"]) for f in sorted(files)])
    return pages.with_columns((PAGE_PREFIX + pl.col("id")).alias("id")).sort("id")


def build_corpus(
    work: Path, pages: pl.DataFrame, repeat: int, shards: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Write the corpus shards (``repeat`` copies under new ids); returns (unique corpus, labelled part)."""
    labelled = load_labelled(str(LABELLED)).with_columns((LABEL_PREFIX + pl.col("id")).alias("id"))
    unique = pl.concat([pages, labelled.select("id", "text")])
    copies = [unique.with_columns(pl.col("id") + f"{COPY_MARK}{k}") for k in range(1, repeat)]
    corpus = pl.concat([unique, *copies]).sample(fraction=1.0, shuffle=True, seed=0)
    src = work / "corpus"
    src.mkdir(parents=True, exist_ok=True)
    for old in src.glob("*.parquet"):
        old.unlink()
    size = -(-corpus.height // shards)
    for k in range(shards):
        corpus.slice(k * size, size).write_parquet(src / f"part-{k:05d}.parquet")
    return unique, labelled


def read_corpus(work: Path) -> pl.DataFrame:
    return pl.read_parquet(work / "corpus" / "*.parquet")


def run_curation(work: Path, name: str, settings: dict[str, Any], workers: int, seed: int) -> dict:
    from curation.core.config import set_dotted
    from curation.dedup.stage import Dedup

    out = work / f"out-{name}"
    shutil.rmtree(out, ignore_errors=True)  # a finished run in the folder would be resumed, not redone
    keys: dict[str, Any] = {}
    overrides = {
        "input": [str(work / "corpus")],
        "output": str(out),
        "workers": workers,
        "exact.enabled": False,
        "url.enabled": False,
        "write_removed": True,
        "keep_work": True,
        "minhash.shingle": "word",
        "minhash.seed": seed,
        **{k: v for k, v in settings.items() if k != "workers"},
    }
    for key, value in overrides.items():
        set_dotted(keys, key, value)
    Dedup.call(**keys)
    kept = pl.read_parquet(out / "*.parquet", columns=["id"])
    removed = pl.read_parquet(out / "removed" / "*.parquet", columns=["id", "dup_survivor_id"])
    return {"ids": kept["id"].to_list() + removed["id"].to_list(), "edges": removed.rows()}


def run_datasketch(work: Path, settings: dict[str, Any], seed: int) -> dict:
    """Plain datasketch: MinHash per document, MinHashLSH insert then query; with ``verify``, the candidate
    pairs are kept only if the exact Jaccard of the same shingle sets reaches the threshold."""
    from datasketch import MinHash, MinHashLSH

    corpus = read_corpus(work)
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(settings["bands"], settings["rows"]))
    sets, hashes = [], []
    for doc_id, text in zip(corpus["id"], corpus["text"], strict=True):
        grams = {" ".join(g) for g in _grams(text)}
        m = MinHash(num_perm=NUM_PERM, seed=seed)
        m.update_batch([g.encode("utf-8") for g in grams])
        lsh.insert(doc_id, m)
        sets.append(grams)
        hashes.append(m)
    edges, candidates = [], []
    index = {doc_id: k for k, doc_id in enumerate(corpus["id"])}
    for k, (doc_id, m) in enumerate(zip(corpus["id"], hashes, strict=True)):
        for other in lsh.query(m):
            j = index[other]
            if j <= k:
                continue
            candidates.append((doc_id, other))
            if settings["verify"]:
                inter = len(sets[k] & sets[j])
                if inter / (len(sets[k]) + len(sets[j]) - inter) < THRESHOLD:
                    continue
            edges.append((doc_id, other))
    return {"edges": edges, "ids": corpus["id"].to_list(), "candidates": candidates}


def _grams(text: str) -> list[tuple[str, ...]]:
    words = re.findall(r"\w+", text.lower())
    return [tuple(words[i : i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))] if words else []


def run_datatrove(work: Path, name: str, settings: dict[str, Any], workers: int, seed: int) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import JsonlWriter

    bands = settings["bands"]
    cfg = MinhashConfig(n_grams=NGRAM, num_buckets=bands, hashes_per_bucket=settings["rows"], seed=seed)
    dt = work / f"out-{name}"
    shutil.rmtree(dt, ignore_errors=True)
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
            bands,
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
    return {
        "clusters": [f"c{c}" if c != -1 else f"s{doc}" for c, doc in zip(cluster, ids, strict=True)],
        "ids": ids,
    }


def worker(name: str, work: Path, workers: int, seed: int) -> None:
    """Run one method in this process (and its children); write what it decided and its wall time."""
    tool, settings = METHODS[name]
    workers = workers if settings.get("workers") else 1
    start = time.perf_counter()
    if tool == "curation":
        result = run_curation(work, name, settings, workers, seed)
    elif tool == "datasketch":
        result = run_datasketch(work, settings, seed)
    else:
        result = run_datatrove(work, name, settings, workers, seed)
    result["seconds"] = time.perf_counter() - start
    (work / f"{name}.json").write_text(json.dumps(result))


def measure(name: str, work: Path, workers: int, seed: int = 1) -> dict:
    """Run ``worker`` in a subprocess (one thread per process) while sampling its process tree: peak RSS
    summed and largest, and CPU seconds summed over every process it started."""
    import psutil

    env = {**os.environ, **ONE_THREAD}
    cmd = [sys.executable, __file__, "--worker", name, "--work", str(work), "--workers", str(workers)]
    proc = subprocess.Popen(
        [*cmd, "--seed", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env
    )
    peak = {"tree": 0, "single": 0}
    cpu: dict[int, float] = {}

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree]
                for p in tree:
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
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
        raise SystemExit(f"{name} failed:\n{err.decode()[-3000:]}")
    result = json.loads((work / f"{name}.json").read_text())
    return {
        **result,
        "peak_tree_mb": peak["tree"] / 2**20,
        "peak_process_mb": peak["single"] / 2**20,
        "cpu_seconds": sum(cpu.values()),
    }


def predicted_labels(result: dict) -> np.ndarray:
    """Cluster label per id of ``result["ids"]``."""
    if "clusters" in result:
        return np.unique(result["clusters"], return_inverse=True)[1]
    a, b = zip(*result["edges"], strict=True) if result["edges"] else ((), ())
    pairs = pairs_by_index(result["ids"], list(a), list(b))
    return components(len(result["ids"]), pairs["i"].to_numpy(), pairs["j"].to_numpy())


def candidates_of(name: str, result: dict, work: Path) -> pl.DataFrame | None:
    """The method's LSH candidate pairs as id pairs (None for datatrove, which does not expose them)."""
    tool = METHODS[name][0]
    if tool == "datasketch":
        return pl.DataFrame(result["candidates"], schema=["id_a", "id_b"], orient="row")
    if tool == "curation":
        from curation.dedup.stage import input_shards

        return candidate_pairs(str(work / f"out-{name}"), record_ids(input_shards([str(work / "corpus")])))
    return None


def score(
    result: dict,
    candidates: pl.DataFrame | None,
    unique: pl.DataFrame,
    labelled: pl.DataFrame,
    truth_pairs: pl.DataFrame,
) -> dict:
    """F1 against the exact-Jaccard truth (all documents, copies in their original's truth cluster) and the
    labels; pair precision on the unique documents (the first copy of each)."""
    ids, pred = result["ids"], predicted_labels(result)
    position = {doc_id: k for k, doc_id in enumerate(unique["id"])}
    original = np.array([position[i.split(COPY_MARK)[0]] for i in ids])
    truth = threshold_truth(unique.height, truth_pairs, THRESHOLD)
    out: dict[str, Any] = {"f1_vs_jaccard_truth": prf(pred, truth[original])}
    first = np.empty(unique.height, np.int64)
    is_first = np.array([COPY_MARK not in i for i in ids])
    first[original[is_first]] = np.flatnonzero(is_first)
    base = pred[first]
    if candidates is not None:
        candidates = candidates.filter(
            ~pl.col("id_a").str.contains(COPY_MARK) & ~pl.col("id_b").str.contains(COPY_MARK)
        )
        candidates = pairs_by_index(
            unique["id"].to_list(), candidates["id_a"].to_list(), candidates["id_b"].to_list()
        )
    out.update(pair_precision(base, truth, truth_pairs, THRESHOLD, candidates))
    lab = np.array([position[i] for i in labelled["id"]])
    out["f1_vs_labels"] = prf(base[lab], labelled["label"].to_list())["f1"]
    return out


def timing(
    args: argparse.Namespace, unique: pl.DataFrame, labelled: pl.DataFrame, truth_pairs: pl.DataFrame
) -> None:
    rows = {}
    for name in args.methods.split(",") if args.methods else METHODS:
        result = measure(name, args.work, args.workers)
        candidates = candidates_of(name, result, args.work)
        rows[name] = {
            "settings": METHODS[name][1],
            "seconds": round(result["seconds"], 1),
            "cpu_seconds": round(result["cpu_seconds"], 1),
            "peak_tree_mb": round(result["peak_tree_mb"]),
            "peak_process_mb": round(result["peak_process_mb"]),
            **score(result, candidates, unique, labelled, truth_pairs),
        }
        print(name, json.dumps(rows[name]), flush=True)
    (args.work / f"results-x{args.repeat}.json").write_text(json.dumps(rows, indent=2))
    columns = {
        "wall s": lambda r: r["seconds"],
        "CPU s": lambda r: r["cpu_seconds"],
        "peak RSS tree / process MB": lambda r: f"{r['peak_tree_mb']} / {r['peak_process_mb']}",
        "F1 (P / R) vs Jaccard truth": lambda r: _prf_cell(r["f1_vs_jaccard_truth"]),
        "candidate pairs (precision)": _candidates_cell,
        "merged-pair precision": lambda r: r["merged_pair_precision"],
        "removed / truth": lambda r: r["removal_ratio"],
        "F1 vs labels": lambda r: r["f1_vs_labels"],
    }
    (args.work / f"results-x{args.repeat}.md").write_text(markdown(rows, columns))


def _prf_cell(scores: dict) -> str:
    return f"{scores['f1']:.4f} ({scores['precision']:.4f} / {scores['recall']:.4f})"


def _candidates_cell(row: dict) -> str:
    pairs, precision = row.get("candidate_pairs"), row.get("candidate_pair_precision")
    return "n/a" if pairs is None else f"{pairs:,} ({precision})"


def _spread_cell(values: dict) -> str:
    return f"{values['mean']:.4f} [{values['min']:.4f}, {values['max']:.4f}]"


def markdown(rows: dict[str, dict], columns: dict[str, Any]) -> str:
    """One table row per method: its name, settings and ``columns`` (header -> cell of a row)."""
    head = ["method", "settings", *columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in rows.items():
        settings = ", ".join(f"{k}={v}" for k, v in row["settings"].items())
        cells = [name, settings, *(str(cell(row)) for cell in columns.values())]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def seeds(
    args: argparse.Namespace, unique: pl.DataFrame, labelled: pl.DataFrame, truth_pairs: pl.DataFrame
) -> None:
    """Accuracy of the single-process methods over seeds 1..N on the unique corpus."""
    rows = {}
    for name in args.methods.split(",") if args.methods else SEED_METHODS:
        runs = []
        for seed in range(1, args.seeds + 1):
            result = measure(name, args.work, 1, seed)
            runs.append(score(result, candidates_of(name, result, args.work), unique, labelled, truth_pairs))
        f1 = [r["f1_vs_jaccard_truth"]["f1"] for r in runs]
        rows[name] = {
            "settings": METHODS[name][1],
            "f1_vs_jaccard_truth_seed1": f1[0],
            "f1_vs_jaccard_truth": spread(f1),
            "precision": spread([r["f1_vs_jaccard_truth"]["precision"] for r in runs]),
            "recall": spread([r["f1_vs_jaccard_truth"]["recall"] for r in runs]),
            **{  # datatrove does not expose its candidate pairs
                key: spread([r[key] for r in runs]) if key in runs[0] else None
                for key in ("candidate_pairs", "candidate_pair_precision")
            },
            "merged_pair_precision": spread([r["merged_pair_precision"] for r in runs]),
            "truth_merged_pair_precision": runs[0]["truth_merged_pair_precision"],
            "removal_ratio": spread([r["removal_ratio"] for r in runs]),
            "f1_vs_labels": spread([r["f1_vs_labels"] for r in runs]),
        }
        print(name, json.dumps(rows[name]), flush=True)
    (args.work / f"seeds-{args.seeds}.json").write_text(json.dumps(rows, indent=2))
    columns = {
        "F1 vs truth, seed 1": lambda r: r["f1_vs_jaccard_truth_seed1"],
        "F1 vs truth, mean [min, max]": lambda r: _spread_cell(r["f1_vs_jaccard_truth"]),
        "precision": lambda r: _spread_cell(r["precision"]),
        "recall": lambda r: _spread_cell(r["recall"]),
        "candidate-pair precision": lambda r: (
            _spread_cell(r["candidate_pair_precision"]) if r["candidate_pair_precision"] else "n/a"
        ),
        "merged-pair precision (truth's)": lambda r: (
            f"{_spread_cell(r['merged_pair_precision'])} ({r['truth_merged_pair_precision']})"
        ),
        "removed / truth": lambda r: _spread_cell(r["removal_ratio"]),
    }
    (args.work / f"seeds-{args.seeds}.md").write_text(markdown(rows, columns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=1, help="copies of the corpus under new ids (volume)")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/curation-bench-dedup"))
    parser.add_argument(
        "--pages", type=Path, help="`curation build` output of the bench pages (default: WORK/pages)"
    )
    parser.add_argument("--methods", help="comma-separated METHODS (default: all; SEED_METHODS with --seeds)")
    parser.add_argument("--seeds", type=int, help="accuracy over seeds 1..N instead of the timing table")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.work, args.workers, args.seed)
        return
    pages = extracted_pages(args.pages or args.work / "pages")
    unique, labelled = build_corpus(args.work, pages, 1 if args.seeds else args.repeat, args.shards)
    truth_pairs = jaccard_pairs(unique["text"].to_list(), NGRAM)
    words = unique["text"].str.count_matches(r"\w+")
    print(
        f"corpus: {unique.height:,} unique documents ({pages.height:,} pages, {labelled.height:,} labelled; "
        f"words median {words.median():.0f}, mean {words.mean():.0f}) x {1 if args.seeds else args.repeat} "
        f"in {args.shards} shards; truth pairs >= {THRESHOLD}: "
        f"{truth_pairs.filter(pl.col('jaccard') >= THRESHOLD).height:,}",
        flush=True,
    )
    if args.seeds:
        seeds(args, unique, labelled, truth_pairs)
    else:
        timing(args, unique, labelled, truth_pairs)


if __name__ == "__main__":
    main()
