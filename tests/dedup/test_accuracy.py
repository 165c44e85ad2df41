"""Accuracy of the MinHash clustering on the real labelled near-duplicates (issue 4, requirement 6)."""

from __future__ import annotations

import pytest

from benchmarks.dedup_eval import evaluate, prf


def test_prf_counts_pairs() -> None:
    assert prf([1, 1, 2, 2], [1, 1, 2, 2])["f1"] == 1.0
    scores = prf([1, 1, 1, 2], [1, 1, 2, 2])  # predicted pairs: 3, true: 2, shared: 1
    assert scores["precision"] == pytest.approx(1 / 3, abs=1e-4) and scores["recall"] == 0.5


def test_default_settings_reach_f1_095(labelled_path: str) -> None:
    result = evaluate(labelled_path)
    assert result["threshold"] == 0.7
    assert result["vs_threshold_truth"]["f1"] >= 0.95, result["vs_threshold_truth"]
    labels = result["vs_labels"]
    assert labels["precision"] >= 0.99  # articles differ; misses are variants below the threshold
    bands = result["vs_labels_recall_by_jaccard"]
    assert bands["0.9-1.0"]["recall"] >= 0.99 and bands["0.0-0.5"]["recall"] <= 0.1


def test_verification_raises_precision(labelled_path: str) -> None:
    plain = evaluate(labelled_path)["vs_threshold_truth"]
    verified = evaluate(labelled_path, {"minhash.verify": True})["vs_threshold_truth"]
    assert verified["precision"] > plain["precision"] and verified["precision"] >= 0.99
    assert verified["f1"] >= 0.95
