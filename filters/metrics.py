"""Held-out evaluation of a classifier's scores: the numbers in ``report.json`` and its plot.

Binary targets: per-class precision/recall/F1 at 0.5, macro-F1, confusion matrix, ROC-AUC, average
precision and a threshold sweep. Numeric (ordinal 0-5 or regression) targets: Spearman, accuracy within
+-1, MAE, the same per-class table on the rounded score, and a sweep of "score >= t" against "label >= t"
for each integer t.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from curation.core.plots import pyplot, save

SWEEP_STEPS = 19


def class_table(y_true: Sequence[str], y_pred: Sequence[str], labels: list[str]) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "confusion_matrix": {
            "labels": labels,
            "rows_true_cols_pred": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }


def _binary_point(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    tp = float(np.sum(truth & predicted))
    precision = tp / max(1.0, float(predicted.sum()))
    recall = tp / max(1.0, float(truth.sum()))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "kept_frac": float(predicted.mean())}


def binary_report(positive: np.ndarray, scores: np.ndarray, labels: list[str], positive_label: str) -> dict:
    """Metrics of a positive-class probability against boolean truth ``positive``."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    negative_label = next(label for label in labels if label != positive_label)
    names = np.where(positive, positive_label, negative_label)
    predicted = np.where(scores >= 0.5, positive_label, negative_label)
    report = class_table(names.tolist(), predicted.tolist(), [negative_label, positive_label])
    both = 0 < positive.sum() < len(positive)
    report["roc_auc"] = float(roc_auc_score(positive, scores)) if both else None
    report["average_precision"] = float(average_precision_score(positive, scores)) if both else None
    sweep = [
        {"threshold": round(t, 2), **_binary_point(positive, scores >= t)}
        for t in np.linspace(0.05, 0.95, SWEEP_STEPS)
    ]
    report["threshold_sweep"] = sweep
    report["best_f1_threshold"] = max(sweep, key=lambda row: row["f1"])["threshold"]
    return report


def numeric_report(values: np.ndarray, scores: np.ndarray) -> dict:
    """Ordinal/regression metrics of a score against numeric labels (e.g. LLM-judged 0-5)."""
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import roc_auc_score

    levels = np.unique(values)
    rounded = np.clip(np.rint(scores), levels.min(), levels.max())
    fmt = [f"{v:g}" for v in levels]
    report = class_table([f"{v:g}" for v in values], [f"{v:g}" for v in rounded], fmt)
    varied = np.std(scores) > 0 and np.std(values) > 0
    report.update(
        {
            "spearman": float(spearmanr(values, scores).statistic) if varied else None,
            "pearson": float(pearsonr(values, scores).statistic) if varied else None,
            "mae": float(np.mean(np.abs(scores - values))),
            "accuracy_rounded": float(np.mean(rounded == values)),
            "accuracy_within_1": float(np.mean(np.abs(rounded - values) <= 1)),
        }
    )
    sweep = []
    for level in levels[1:]:
        truth = values >= level
        row = {"threshold": float(level), **_binary_point(truth, scores >= level)}
        row["roc_auc"] = float(roc_auc_score(truth, scores)) if 0 < truth.sum() < len(truth) else None
        sweep.append(row)
    report["threshold_sweep"] = sweep
    return report


def plot_report(
    report: dict,
    positive: np.ndarray | None,
    values: np.ndarray | None,
    scores: np.ndarray,
    path: str | os.PathLike[str],
    title: str,
) -> None:
    """ROC curve + sweep (binary) or score-vs-label scatter + confusion matrix (numeric)."""
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    if positive is not None:
        from sklearn.metrics import roc_curve

        if report.get("roc_auc") is not None:
            fpr, tpr, _ = roc_curve(positive, scores)
            left.plot(fpr, tpr, label=f"AUC {report['roc_auc']:.3f}")
        left.plot([0, 1], [0, 1], color="#999", lw=0.8)
        left.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (held-out)")
        left.legend(loc="lower right")
        sweep = report["threshold_sweep"]
        for key in ("precision", "recall", "f1"):
            right.plot([r["threshold"] for r in sweep], [r[key] for r in sweep], label=key)
        right.set(xlabel="threshold on score", title="threshold sweep (positive class)")
        right.legend()
    else:
        jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(values))
        left.scatter(values + jitter, scores, s=8, alpha=0.6)
        left.set(
            xlabel="label", ylabel="score", title=f"held-out, Spearman {report.get('spearman') or 0:.3f}"
        )
        cm = report["confusion_matrix"]
        right.imshow(np.array(cm["rows_true_cols_pred"]), cmap="Blues")
        right.set_xticks(range(len(cm["labels"])), cm["labels"])
        right.set_yticks(range(len(cm["labels"])), cm["labels"])
        right.set(xlabel="rounded score", ylabel="label", title="confusion matrix")
    fig.suptitle(title)
    fig.tight_layout()
    save(fig, path)
