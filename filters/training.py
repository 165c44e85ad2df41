"""`curation classifier train`: labelled texts -> model directory with card, held-out report and plot.

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
from pydantic import Field

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.schema import CLASSIFIER_HELDOUT, CLASSIFIER_REPORT, TEXT
from curation.core.stage import Run, Stage
from curation.filters.card import ClassifierCard, is_numeric

Backend = Literal["auto", "tfidf", "fasttext", "transformers"]
Target = Literal["auto", "binary", "classes", "regression"]
REST_LABEL = "rest"  # the negative side when named classes are evaluated as positive_label vs the others


class ClassifierTrainConfig(StageConfig):
    """Train a classifier on labelled texts; hold out a split; write model, card, report and plot."""

    task: str = Field(description="Task name: the score column is <task>_score.")
    data: str = Field(description="Labelled Parquet (file/dir), CSV or JSONL.")
    text_column: str = Field(TEXT, description="Column holding the text.")
    label_column: str | None = Field(None, description="Column holding the label.")
    label_sql: str | None = Field(
        None, description="SQL expression for the label instead, e.g. GREATEST(a, b) >= 2."
    )
    backend: Backend = Field(
        "auto", description="auto (tfidf below auto_fasttext_rows rows), tfidf, fasttext, transformers."
    )
    target: Target = Field("auto", description="auto, binary, classes or regression.")
    positive_label: str | None = Field(None, description="Label whose probability is the score.")
    test_fraction: float = Field(0.2, gt=0, lt=1, description="Held-out share (stratified).")
    seed: int = Field(0, description="Split and training seed.")
    auto_fasttext_rows: int = Field(50_000, description="Labelled rows from which auto picks fastText.")
    encoder: str | None = Field(
        None, description="Local dir or hub id of the encoder for backend transformers."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Backend hyper-parameters.")
    baseline_badwords: list[str] = Field(
        default_factory=list, description="LDNOOBW dirs: report a bad-word baseline."
    )
    baseline_lang: str | None = Field(None, description="Language of the baseline word lists.")


def choose_backend(cfg: ClassifierTrainConfig, n_rows: int) -> str:
    if cfg.backend != "auto":
        return cfg.backend
    return "fasttext" if n_rows >= cfg.auto_fasttext_rows else "tfidf"


def choose_target(cfg: ClassifierTrainConfig, labels: list[str], backend: str) -> str:
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
    cfg: ClassifierTrainConfig,
) -> str:
    from curation.filters.backends import fasttext_model, hf_model, tfidf_model

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
    from curation.filters.metrics import binary_report, numeric_report, plot_report

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


def baseline(
    cfg: ClassifierTrainConfig, texts: list[str], truth: list[str], card: ClassifierCard
) -> dict[str, Any]:
    """The bad-word count as a score on the same held-out rows (ROC-AUC or Spearman)."""
    from scipy.stats import spearmanr
    from sklearn.metrics import roc_auc_score

    from curation.filters.badwords import BadWords

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


class ClassifierTrain(Stage[ClassifierTrainConfig]):
    """Train a classifier on labelled texts; hold out a split; write model, card, report and plot."""

    name = "classifier train"
    config_model = ClassifierTrainConfig

    def run(self, run: Run) -> dict[str, Any]:
        """Train, evaluate on the held-out split, write the model directory; the summary is the report."""
        import polars as pl

        from curation.filters.labelled import label_strings, read_labelled
        from curation.filters.scoring import load_scorer

        cfg = self.cfg
        out = Path(cfg.output)
        out.mkdir(parents=True, exist_ok=True)
        frame = read_labelled(cfg.data, cfg.text_column, cfg.label_column, cfg.label_sql)
        texts, labels = frame["text"].to_list(), label_strings(frame["label"])
        label_set = sorted(set(labels), key=float) if is_numeric(sorted(set(labels))) else sorted(set(labels))
        if len(label_set) < 2:
            raise CurationError(f"need at least two distinct labels in {cfg.data}, found {label_set}")
        backend = choose_backend(cfg, len(texts))
        target = choose_target(cfg, label_set, backend)
        strata = np.array([str(min(float(y), 4.0)) if target == "regression" else y for y in labels])
        train_idx, test_idx = stratified_split(strata, cfg.test_fraction, cfg.seed)
        started = time.perf_counter()
        train_texts, train_labels = [texts[i] for i in train_idx], [labels[i] for i in train_idx]
        model_file = _fit(backend, target, train_texts, train_labels, label_set, out, cfg)
        train_seconds = time.perf_counter() - started
        card = ClassifierCard(
            task=cfg.task,
            backend=backend,
            target=target,
            labels=label_set,
            positive_label=cfg.positive_label,
            model_file=model_file,
            details={
                "text_column": cfg.text_column,
                "label": cfg.label_sql or cfg.label_column,
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
            "labels": label_set,
            "train_rows": len(train_idx),
            "test_rows": len(test_idx),
            "train_seconds": round(train_seconds, 2),
            **evaluate(card, scores, test_truth, out),
        }
        if cfg.baseline_badwords:
            report["baselines"] = baseline(cfg, test_texts, test_truth, card)
        heldout = pl.DataFrame({"text": test_texts, "label": test_truth, "score": scores})
        io.write_parquet(out / CLASSIFIER_HELDOUT, heldout.to_arrow())
        io.write_json(out / CLASSIFIER_REPORT, report)
        return report

    def render(self, stats: dict[str, Any]) -> str:
        r = stats["summary"]
        headline = {k: r[k] for k in HEADLINE_METRICS if r.get(k) is not None}
        figures = ", ".join(f"{k} {v:.3f}" for k, v in headline.items())
        return (
            f"{r['task']}: {r['backend']} {r['target']} on {r['train_rows']:,} rows, "
            f"held-out {r['test_rows']:,}: {figures} -> {self.cfg.output}"
        )


HEADLINE_METRICS = ("roc_auc", "macro_f1", "spearman", "accuracy_within_1")
