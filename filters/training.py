"""``curation classifier train``: labelled texts -> model directory with card, held-out report and plot.

The backend is chosen by data size unless given: TF-IDF + linear model below ``auto_fasttext_rows`` labelled
rows (it works with a few hundred labels), fastText above (it scales to millions); ``transformers``
fine-tunes a small encoder. Numeric labels with more than two values are a regression for TF-IDF and
classes scored by expected value for fastText. A stratified split is held out and never trained on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field
from rich.console import Console

from curation import schema as S
from curation.errors import CurationError
from curation.io import atomic_write_json, write_parquet
from curation.runinfo import save_config, save_stats
from filters.card import ClassifierCard, is_numeric
from filters.labelled import label_strings, read_labelled

Backend = Literal["auto", "tfidf", "fasttext", "transformers"]
Target = Literal["auto", "binary", "classes", "regression"]
REST_LABEL = "rest"  # the negative side when named classes are evaluated as positive_label vs the others


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str
    data: str
    output: str
    text_col: str = S.TEXT
    label_col: str | None = None
    label_sql: str | None = Field(
        None, description="SQL expression giving the label, e.g. GREATEST(a, b) >= 2"
    )
    backend: Backend = "auto"
    target: Target = "auto"
    positive_label: str | None = None
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 0
    auto_fasttext_rows: int = 50_000
    encoder: str | None = Field(
        None, description="local dir or hub id of the encoder for backend=transformers"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="backend hyper-parameters")
    baseline_badwords: list[str] = Field(default_factory=list, description="LDNOOBW dirs for a baseline")
    baseline_lang: str | None = None


def choose_backend(cfg: TrainConfig, n_rows: int) -> str:
    if cfg.backend != "auto":
        return cfg.backend
    return "fasttext" if n_rows >= cfg.auto_fasttext_rows else "tfidf"


def choose_target(cfg: TrainConfig, labels: list[str], backend: str) -> str:
    if cfg.target != "auto":
        return cfg.target
    if len(labels) == 2:
        return "binary"
    return "regression" if is_numeric(labels) and backend != "fasttext" else "classes"


def stratified_split(strata: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/test row indices, stratified on ``strata`` where every stratum has at least two rows."""
    from sklearn.model_selection import train_test_split

    _, counts = np.unique(strata, return_counts=True)
    stratify = strata if counts.min() >= 2 else None
    return train_test_split(np.arange(len(strata)), test_size=fraction, random_state=seed, stratify=stratify)


def _fit(
    backend: str,
    target: str,
    texts: list[str],
    labels: list[str],
    label_set: list[str],
    out: Path,
    cfg: TrainConfig,
) -> str:
    from filters.backends import fasttext_model, hf_model, tfidf_model

    ys: list[Any] = [float(y) for y in labels] if target == "regression" else labels
    if backend == "fasttext":
        if target == "regression":
            raise CurationError("backend fasttext cannot do target regression: use classes or tfidf")
        return fasttext_model.train_fasttext(texts, labels, out, cfg.params)
    if backend == "tfidf":
        return tfidf_model.train_tfidf(texts, ys, target, out, cfg.params)
    if not cfg.encoder:
        raise CurationError("backend transformers needs 'encoder' (a local encoder dir or hub id)")
    return hf_model.finetune(cfg.encoder, texts, ys, target, label_set, out, cfg.params)


def evaluate(card: ClassifierCard, scores: np.ndarray, truth: list[str], out: Path) -> dict[str, Any]:
    """Held-out report for the card's target; writes ``report.png`` beside it."""
    from filters.metrics import binary_report, numeric_report, plot_report

    title = f"{card.task}: {card.backend}, held-out n={len(truth)}"
    if is_numeric(card.labels) and card.target != "binary":
        values = np.array([float(y) for y in truth])
        report = numeric_report(values, scores)
        plot_report(report, None, values, scores, out / "report.png", title)
        return report
    # binary, or named classes scored as p(positive_label): positive label against the rest
    positive = np.array([y == card.positive_label for y in truth])
    labels = card.labels if card.target == "binary" else [REST_LABEL, card.positive_label]
    report = binary_report(positive, scores, labels, card.positive_label)
    plot_report(report, positive, None, scores, out / "report.png", title)
    return report


def baseline(cfg: TrainConfig, texts: list[str], truth: list[str], card: ClassifierCard) -> dict[str, Any]:
    """The bad-word count as a score on the same held-out rows (ROC-AUC or Spearman)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from filters.badwords import BadWords

    if not cfg.baseline_lang:
        raise CurationError("baseline_badwords needs baseline_lang (the language of the lists to use)")
    counts, _ = BadWords.from_dirs(cfg.baseline_badwords).measure_many(
        texts, [cfg.baseline_lang] * len(texts)
    )
    counts_arr = np.array([c or 0 for c in counts], dtype=float)
    if card.target == "binary":
        positive = np.array([y == card.positive_label for y in truth])
        return {"badword_count_roc_auc": float(roc_auc_score(positive, counts_arr))}
    return {"badword_count_spearman": float(spearmanr([float(y) for y in truth], counts_arr).statistic)}


def run_train(cfg: TrainConfig, console: Console | None = None) -> dict[str, Any]:
    """Train, evaluate on the held-out split, and write the model directory; returns the report."""
    from filters.scoring import load_scorer

    console = console or Console()
    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    save_config(out, "classifier train", cfg.model_dump())
    frame = read_labelled(cfg.data, cfg.text_col, cfg.label_col, cfg.label_sql)
    texts, labels = frame["text"].to_list(), label_strings(frame["label"])
    label_set = sorted(set(labels), key=float) if is_numeric(sorted(set(labels))) else sorted(set(labels))
    if len(label_set) < 2:
        raise CurationError(f"need at least two distinct labels in {cfg.data}, found {label_set}")
    backend = choose_backend(cfg, len(texts))
    target = choose_target(cfg, label_set, backend)
    strata = np.array([str(min(float(y), 4.0)) if target == "regression" else y for y in labels])
    train_idx, test_idx = stratified_split(strata, cfg.test_fraction, cfg.seed)
    started = time.perf_counter()
    with console.status(f"training {backend} ({target}) on {len(train_idx):,} rows"):
        model_file = _fit(
            backend,
            target,
            [texts[i] for i in train_idx],
            [labels[i] for i in train_idx],
            label_set,
            out,
            cfg,
        )
    train_seconds = time.perf_counter() - started
    card = ClassifierCard(
        task=cfg.task,
        backend=backend,
        target=target,
        labels=label_set,
        positive_label=cfg.positive_label,
        model_file=model_file,
        details={
            "text_col": cfg.text_col,
            "label": cfg.label_sql or cfg.label_col,
            "train_rows": len(train_idx),
            "test_rows": len(test_idx),
        },
    )
    card.save(out)
    test_texts, test_truth = [texts[i] for i in test_idx], [labels[i] for i in test_idx]
    scores = load_scorer(str(out)).score(test_texts)
    report = {
        "task": cfg.task,
        "backend": backend,
        "target": target,
        "score": card.score,
        "train_rows": len(train_idx),
        "test_rows": len(test_idx),
        "train_seconds": round(train_seconds, 2),
        **evaluate(card, scores, test_truth, out),
    }
    if cfg.baseline_badwords:
        report["baselines"] = baseline(cfg, test_texts, test_truth, card)
    write_parquet(
        out / S.CLASSIFIER_HELDOUT,
        pl.DataFrame({"text": test_texts, "label": test_truth, "score": scores}).to_arrow(),
    )
    atomic_write_json(out / S.CLASSIFIER_REPORT, report)
    headline = {k: report[k] for k in ("roc_auc", "macro_f1", "spearman", "accuracy_within_1") if k in report}
    save_stats(
        out,
        {
            "rows": len(texts),
            "train_rows": len(train_idx),
            "test_rows": len(test_idx),
            "train_seconds": round(train_seconds, 2),
            "labels": label_set,
            **headline,
            **report.get("baselines", {}),
        },
    )
    summary = ", ".join(f"{k} {v:.3f}" for k, v in headline.items() if v is not None)
    console.print(
        f"[bold]{cfg.task}[/bold]: {backend} {target} on {len(train_idx):,} rows, "
        f"held-out {len(test_idx):,}: {summary} -> {out}"
    )
    return report
