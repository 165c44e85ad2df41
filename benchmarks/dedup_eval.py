"""Accuracy of the MinHash clustering on labelled near-duplicates, as pairwise precision, recall and F1.

Two references: (a) the exact-Jaccard truth at the configured threshold (same-label pairs whose shingle
Jaccard is at least the threshold, closed under connected components) and (b) the raw labels, overall and
by Jaccard band of the same-label pairs. Predicted clusters come from a real `curation dedup` run (URL dedup
off: the variants of one article share its URL) joining every removed document to its survivor.
"""

from __future__ import annotations

import itertools
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curation.core.config import load_config
from curation.core.io import iter_jsonl
from curation.core.schema import DUP_SURVIVOR_ID, ID, REMOVED_DIR, TEXT, URL
from curation.core.stage import run_stage
from curation.dedup.config import DedupConfig
from curation.dedup.shingles import jaccard, shingle
from curation.dedup.stage import Dedup

JACCARD_BANDS = (0.0, 0.5, 0.7, 0.8, 0.9, 1.01)


def load_labelled(path: str) -> pl.DataFrame:
    """The labelled near-duplicate documents as (id, text, url, label)."""
    rows = [
        {ID: r["doc_id"], TEXT: r["text"], URL: r["url"], "label": r["cluster_id"]} for r in iter_jsonl(path)
    ]
    return pl.DataFrame(rows)


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


def labelled_pairs(docs: pl.DataFrame, ngram: int) -> pl.DataFrame:
    """Every same-label pair (i, j) with the exact word-``ngram`` Jaccard of its texts."""
    sh = shingle(docs[TEXT], np.zeros(docs.height, bool), word_ngram=ngram).per_doc()
    rows = []
    for idx in docs.with_row_index("i").group_by("label").agg("i")["i"]:
        for i, j in itertools.combinations(sorted(idx), 2):
            rows.append((i, j, jaccard(sh[i], sh[j])))
    return pl.DataFrame(rows, schema={"i": pl.Int64, "j": pl.Int64, "jaccard": pl.Float64}, orient="row")


def threshold_truth(n: int, pairs: pl.DataFrame, threshold: float) -> np.ndarray:
    kept = pairs.filter(pl.col("jaccard") >= threshold)
    return components(n, kept["i"].to_numpy(), kept["j"].to_numpy())


def predict(docs: pl.DataFrame, overrides: dict[str, Any]) -> np.ndarray:
    """Cluster label per document from a real dedup run (removed documents joined to their survivors)."""
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
        }
        run_stage(Dedup(load_config(DedupConfig, None, {**base, **overrides})))
        removed = pl.read_parquet(os.path.join(out, REMOVED_DIR, "in.parquet"))
    index = {doc_id: i for i, doc_id in enumerate(docs[ID])}
    a = np.array([index[x] for x in removed[ID]], dtype=np.int64)
    b = np.array([index[x] for x in removed[DUP_SURVIVOR_ID]], dtype=np.int64)
    return components(docs.height, a, b)


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


def evaluate(
    path: str, overrides: dict[str, Any] | None = None, sweep: Sequence[float] = ()
) -> dict[str, Any]:
    """Scores of one configuration, plus F1 against the raw labels for each threshold in ``sweep``."""
    overrides = overrides or {}
    docs = load_labelled(path)
    cfg = load_config(DedupConfig, None, {"input": [path], "output": "unused", **overrides})
    pairs = labelled_pairs(docs, cfg.minhash.word_ngram)
    pred = predict(docs, overrides)
    labels = docs["label"].to_list()
    result: dict[str, Any] = {
        "docs": docs.height,
        "threshold": cfg.minhash.threshold,
        "vs_threshold_truth": prf(pred, threshold_truth(docs.height, pairs, cfg.minhash.threshold)),
        "vs_labels": prf(pred, labels),
        "vs_labels_recall_by_jaccard": band_recall(pred, pairs),
    }
    if sweep:
        f1 = {t: prf(predict(docs, {**overrides, "minhash.threshold": t}), labels)["f1"] for t in sweep}
        best = max(f1, key=lambda t: f1[t])
        result["vs_labels_f1_by_threshold"] = {f"{t:.2f}": v for t, v in f1.items()}
        result["best_threshold_vs_labels"] = {"threshold": best, "f1": f1[best]}
    return result
