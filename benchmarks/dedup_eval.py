"""Accuracy of the MinHash clustering against exact Jaccard truth and the labelled near-duplicates.

Truth (independent of curation's shingler and hashes): word ``n``-grams as strings (Python's Unicode ``\\w+``
words of the lower-cased text), exact Jaccard of every pair of documents that share one (a sparse incidence
product), pairs at or above the threshold closed under connected components. Scores:

- pairwise precision / recall / F1 of the predicted clusters against that truth, and against the raw labels;
- candidate-pair precision: the share of LSH candidate pairs whose exact Jaccard reaches the threshold;
- merged-pair precision: the share of pairs put in one cluster whose own Jaccard reaches the threshold, beside
  the same share for the truth's closure (components merge pairs below the threshold in both);
- removal ratio: documents removed over documents the truth would remove (one survivor per component).

Predicted clusters come from a real `curation dedup` run (URL dedup off: the variants of one article share its
URL) joining every removed document to its survivor. ``split_clusters`` cuts the labelled clusters into a tuning
part and a held-out part by cluster; ``python benchmarks/dedup_eval.py`` sweeps candidate settings over seeds
on the tuning part and reports the chosen ones (the defaults) on the held-out part.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from curation.core.config import load_config
from curation.core.io import iter_jsonl
from curation.core.schema import DUP_SURVIVOR_ID, ID, REMOVED_DIR, RUN_DIR, TEXT, URL, WORK_DIR
from curation.core.stage import run_stage
from curation.dedup.config import DedupConfig
from curation.dedup.stage import Dedup

JACCARD_BANDS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.01)
_WORD = re.compile(r"\w+")
DATA = Path(os.environ.get("CURATION_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LABELLED = DATA / "dedup" / "near_duplicates" / "docs.jsonl.gz"


def load_labelled(path: str) -> pl.DataFrame:
    """The labelled near-duplicate documents as (id, text, url, label)."""
    rows = [
        {ID: r["doc_id"], TEXT: r["text"], URL: r["url"], "label": r["cluster_id"]} for r in iter_jsonl(path)
    ]
    return pl.DataFrame(rows)


def split_clusters(
    docs: pl.DataFrame, seed: int = 0, tune_share: float = 0.5
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(tuning, held-out): whole labelled clusters drawn at random (seeded), never one cluster on both sides."""
    labels = sorted(docs["label"].unique().to_list())
    np.random.default_rng(seed).shuffle(labels)
    tune = set(labels[: round(len(labels) * tune_share)])
    return docs.filter(pl.col("label").is_in(tune)), docs.filter(~pl.col("label").is_in(tune))


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label of each of ``n`` nodes given undirected edges ``a[i]-b[i]``."""
    graph = coo_matrix((np.ones(len(a)), (a, b)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def pair_counts(pred: Sequence[Any], true: Sequence[Any]) -> tuple[int, int, int]:
    """(pairs together in both, pairs together in ``pred``, pairs together in ``true``)."""
    df = pl.DataFrame({"p": list(pred), "t": list(true)})

    def pairs(groups: pl.DataFrame) -> int:
        sizes = groups["len"].to_numpy().astype(np.int64)
        return int((sizes * (sizes - 1) // 2).sum())

    return pairs(df.group_by("p", "t").len()), pairs(df.group_by("p").len()), pairs(df.group_by("t").len())


def prf(pred: Sequence[Any], true: Sequence[Any]) -> dict[str, float]:
    both, n_pred, n_true = pair_counts(pred, true)
    precision = both / n_pred if n_pred else 1.0
    recall = both / n_true if n_true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "true_pairs": n_true,
    }


def word_shingles(text: str, n: int) -> set[str]:
    """The truth's shingles: word ``n``-grams as strings; a text of fewer than ``n`` words is one shingle."""
    words = _WORD.findall(text.lower())
    return {" ".join(words[i : i + n]) for i in range(max(1, len(words) - n + 1))} if words else set()


def jaccard_pairs(texts: Sequence[str], n: int) -> pl.DataFrame:
    """Exact Jaccard ``(i, j, jaccard)``, ``i < j``, of every pair of texts sharing a word ``n``-gram."""
    vocab: dict[str, int] = {}
    indices: list[int] = []
    indptr = [0]
    for text in texts:
        indices.extend(vocab.setdefault(g, len(vocab)) for g in word_shingles(text, n))
        indptr.append(len(indices))
    incidence = csr_matrix(
        (np.ones(len(indices), np.int32), indices, indptr), shape=(len(texts), max(len(vocab), 1))
    )
    shared = (incidence @ incidence.T).tocoo()
    upper = shared.row < shared.col
    i, j, inter = shared.row[upper], shared.col[upper], shared.data[upper].astype(np.float64)
    size = np.diff(indptr)
    return pl.DataFrame(
        {"i": i.astype(np.int64), "j": j.astype(np.int64), "jaccard": inter / (size[i] + size[j] - inter)}
    ).sort("i", "j")


def threshold_truth(n: int, pairs: pl.DataFrame, threshold: float) -> np.ndarray:
    kept = pairs.filter(pl.col("jaccard") >= threshold)
    return components(n, kept["i"].to_numpy(), kept["j"].to_numpy())


def pairs_by_index(ids: Sequence[str], a: Sequence[str], b: Sequence[str]) -> pl.DataFrame:
    """Pairs of ids as ``(i, j)`` row numbers in ``ids``, ``i < j``, without repeats."""
    index = {x: k for k, x in enumerate(ids)}
    ia = np.array([index[x] for x in a], np.int64)
    ib = np.array([index[x] for x in b], np.int64)
    return (
        pl.DataFrame({"i": np.minimum(ia, ib), "j": np.maximum(ia, ib)})
        .filter(pl.col("i") != pl.col("j"))
        .unique()
    )


def with_jaccard(pairs: pl.DataFrame, truth_pairs: pl.DataFrame) -> np.ndarray:
    """Exact Jaccard of each ``(i, j)`` pair (0 for pairs sharing no shingle)."""
    joined = pairs.join(truth_pairs, on=["i", "j"], how="left")
    return joined["jaccard"].fill_null(0.0).to_numpy()


def merged_pairs(labels: np.ndarray) -> pl.DataFrame:
    """Every ``(i, j)`` pair put in one cluster."""
    df = pl.DataFrame({"c": labels, "i": np.arange(len(labels))})
    groups = df.group_by("c").agg("i").filter(pl.col("i").list.len() > 1)["i"].to_list()
    rows = [pair for members in groups for pair in itertools.combinations(sorted(members), 2)]
    return pl.DataFrame(rows, schema={"i": pl.Int64, "j": pl.Int64}, orient="row")


def pair_precision(
    pred: np.ndarray,
    truth: np.ndarray,
    truth_pairs: pl.DataFrame,
    threshold: float,
    candidates: pl.DataFrame | None,
) -> dict[str, Any]:
    """Candidate-pair and merged-pair precision against exact Jaccard, and the removal ratio."""

    def share(pairs: pl.DataFrame) -> float | None:
        return (
            round(float((with_jaccard(pairs, truth_pairs) >= threshold).mean()), 4) if pairs.height else None
        )

    n = len(pred)
    out: dict[str, Any] = {}
    if candidates is not None:
        out["candidate_pairs"] = candidates.height
        out["candidate_pair_precision"] = share(candidates)
    predicted = merged_pairs(pred)
    out["merged_pairs"] = predicted.height
    out["merged_pair_precision"] = share(predicted)
    out["truth_merged_pair_precision"] = share(merged_pairs(truth))
    removed, truth_removed = n - len(np.unique(pred)), n - len(np.unique(truth))
    out["docs_removed"] = removed
    out["truth_docs_removed"] = truth_removed
    out["removal_ratio"] = round(removed / truth_removed, 4) if truth_removed else None
    return out


def candidate_pairs(out: str, doc_ids: pl.DataFrame) -> pl.DataFrame:
    """The LSH candidate pairs ``(id_a, id_b)`` of a run kept with ``keep_work`` (the ``candidates``
    exchange with verification, else the ``edges`` it writes); ``doc_ids`` maps record numbers to ids."""
    work = Path(out) / RUN_DIR / WORK_DIR
    folder = work / "candidates" if (work / "candidates").exists() else work / "edges"
    files = sorted(folder.glob("*/*.parquet"))
    if not files:
        return pl.DataFrame(schema={"id_a": pl.String, "id_b": pl.String})
    pairs = pl.concat([pl.read_parquet(f) for f in files])
    if "src" in pairs.columns:  # edges: both directions of each pair
        pairs = pairs.rename({"src": "a", "dst": "b"})
    named = pairs.join(doc_ids.rename({"doc": "a", ID: "id_a"}), on="a")
    return named.join(doc_ids.rename({"doc": "b", ID: "id_b"}), on="b").select("id_a", "id_b")


def record_ids(shards: Sequence[str]) -> pl.DataFrame:
    """``(doc, id)`` of every input row: a run numbers row ``r`` of its shard ``s`` as ``s << 32 | r``."""
    from curation.dedup.records import doc_numbers

    frames = []
    for index, path in enumerate(shards):
        ids = pl.read_parquet(path, columns=[ID])[ID]
        frames.append(pl.DataFrame({"doc": doc_numbers(index, len(ids)), ID: ids}))
    return pl.concat(frames)


def predict(docs: pl.DataFrame, overrides: dict[str, Any]) -> tuple[np.ndarray, pl.DataFrame]:
    """Cluster label per document from a real dedup run (removed documents joined to their survivors), and
    the run's LSH candidate pairs as row numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "in.parquet")
        docs.select(ID, TEXT, URL).write_parquet(src)
        out = os.path.join(tmp, "out")
        base = {
            "input": [src],
            "output": out,
            "url.enabled": False,
            "write_removed": True,
            "executor": "local",
            "keep_work": True,
        }
        run_stage(Dedup(load_config(DedupConfig, None, {**base, **overrides})))
        removed = pl.read_parquet(os.path.join(out, REMOVED_DIR, "in.parquet"))
        named = candidate_pairs(out, record_ids([src]))
    ids = docs[ID].to_list()
    merged = pairs_by_index(ids, removed[ID].to_list(), removed[DUP_SURVIVOR_ID].to_list())
    candidates = pairs_by_index(ids, named["id_a"].to_list(), named["id_b"].to_list())
    return components(docs.height, merged["i"].to_numpy(), merged["j"].to_numpy()), candidates


def labelled_pairs(docs: pl.DataFrame, truth_pairs: pl.DataFrame) -> pl.DataFrame:
    """Every same-label pair ``(i, j)`` with its exact Jaccard."""
    rows = [
        pair
        for idx in docs.with_row_index("i").group_by("label").agg("i")["i"]
        for pair in itertools.combinations(sorted(idx), 2)
    ]
    pairs = pl.DataFrame(rows, schema={"i": pl.Int64, "j": pl.Int64}, orient="row")
    return pairs.with_columns(pl.Series("jaccard", with_jaccard(pairs, truth_pairs)))


def band_recall(pred: np.ndarray, pairs: pl.DataFrame) -> dict[str, dict[str, float]]:
    """Share of same-label pairs clustered together, by Jaccard band of the pair."""
    together = pred[pairs["i"].to_numpy()] == pred[pairs["j"].to_numpy()]
    sims = pairs["jaccard"].to_numpy()
    out = {}
    for lo, hi in itertools.pairwise(JACCARD_BANDS):
        mask = (sims >= lo) & (sims < hi)
        name = f"{lo:.1f}-{min(hi, 1.0):.1f}"
        out[name] = {
            "pairs": int(mask.sum()),
            "recall": round(float(together[mask].mean()), 4) if mask.any() else None,
        }
    return out


def evaluate(docs: pl.DataFrame, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Scores of one configuration on labelled documents (id, text, url, label)."""
    overrides = overrides or {}
    cfg = load_config(DedupConfig, None, {"input": ["unused"], "output": "unused", **overrides})
    threshold = cfg.minhash.threshold
    truth_pairs = jaccard_pairs(docs[TEXT].to_list(), cfg.minhash.word_ngram)
    truth = threshold_truth(docs.height, truth_pairs, threshold)
    pred, candidates = predict(docs, overrides)
    return {
        "docs": docs.height,
        "clusters": docs["label"].n_unique(),
        "threshold": threshold,
        "vs_threshold_truth": prf(pred, truth),
        **pair_precision(pred, truth, truth_pairs, threshold, candidates),
        "vs_labels": prf(pred, docs["label"].to_list()),
        "vs_labels_recall_by_jaccard": band_recall(pred, labelled_pairs(docs, truth_pairs)),
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {
        "mean": round(float(arr.mean()), 4),
        "min": round(float(arr.min()), 4),
        "max": round(float(arr.max()), 4),
    }


# Settings swept on the tuning part (name -> dedup overrides; the seed is added per run).
CANDIDATES: dict[str, dict[str, Any]] = {
    "14x9": {"minhash.verify": False, "minhash.bands": 14, "minhash.rows": 9},  # the old default
    "20x6": {"minhash.verify": False, "minhash.bands": 20, "minhash.rows": 6},
    "14x9+verify": {"minhash.verify": True, "minhash.bands": 14, "minhash.rows": 9},
    "16x8+verify": {"minhash.verify": True, "minhash.bands": 16, "minhash.rows": 8},  # fp_weight 0.3
    "18x7+verify": {"minhash.verify": True, "minhash.bands": 18, "minhash.rows": 7},  # fp_weight 0.2
    "20x6+verify": {"minhash.verify": True, "minhash.bands": 20, "minhash.rows": 6},  # fp_weight 0.1
    "21x6+verify": {"minhash.verify": True, "minhash.bands": 21, "minhash.rows": 6},  # fp_weight 0.05
    "25x5+verify": {"minhash.verify": True, "minhash.bands": 25, "minhash.rows": 5},
    "default": {},
}
SUMMARY_KEYS = ("candidate_pair_precision", "merged_pair_precision", "removal_ratio", "candidate_pairs")


def over_seeds(docs: pl.DataFrame, overrides: dict[str, Any], seeds: Sequence[int]) -> dict[str, Any]:
    runs = [evaluate(docs, {**overrides, "minhash.seed": s}) for s in seeds]
    f1 = [r["vs_threshold_truth"]["f1"] for r in runs]
    return {
        "seeds": list(seeds),
        "f1_vs_truth": spread(f1),
        "f1_vs_truth_seed1": f1[list(seeds).index(1)] if 1 in seeds else None,
        "precision_vs_truth": spread([r["vs_threshold_truth"]["precision"] for r in runs]),
        "recall_vs_truth": spread([r["vs_threshold_truth"]["recall"] for r in runs]),
        "f1_vs_labels": spread([r["vs_labels"]["f1"] for r in runs]),
        **{k: spread([r[k] for r in runs if r.get(k) is not None]) for k in SUMMARY_KEYS},
        "truth_merged_pair_precision": runs[0]["truth_merged_pair_precision"],
        "truth_docs_removed": runs[0]["truth_docs_removed"],
        "docs": runs[0]["docs"],
        "clusters": runs[0]["clusters"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="minhash.seed 1..N for every setting")
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument(
        "--candidates", default=",".join(c for c in CANDIDATES if c != "default"), help="CANDIDATES to sweep"
    )
    parser.add_argument("--held-out", default="14x9,default")
    parser.add_argument("--out", type=Path, default=Path("/tmp/curation-bench-dedup/tuning.json"))
    args = parser.parse_args()
    tune, held = split_clusters(load_labelled(str(LABELLED)), args.split_seed)
    seeds = range(1, args.seeds + 1)
    result: dict[str, Any] = {"split_seed": args.split_seed, "tuning": {}, "held_out": {}}
    for part, docs, names in (("tuning", tune, args.candidates), ("held_out", held, args.held_out)):
        for name in names.split(","):
            result[part][name] = row = over_seeds(docs, CANDIDATES[name], seeds)
            print(part, name, json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
