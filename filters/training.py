"""`curation classifier train`: labelled texts -> model directory with card, held-out report and plot.

The backend is chosen by data size unless given: TF-IDF + linear model below ``auto_fasttext_rows`` labelled
rows (it works with a few hundred labels), fastText above (it scales to millions); ``transformers``
fine-tunes a small encoder. Numeric labels with more than two values are a regression for TF-IDF and
classes scored by expected value for fastText.

A part is held out and never trained on: by site when the table has a URL column (no site on both sides), else
by distinct text, stratified (``filters.splits``). The report says which, with the number of sites and of rows
that had no site; for numeric targets it sets the scores beside those of a constant prediction (the training
mode), whose accuracy within +-1 is high on skewed labels and whose Spearman is undefined.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from curation.core import io
from curation.core.config import StageConfig
from curation.core.errors import CurationError
from curation.core.schema import CLASSIFIER_HELDOUT, CLASSIFIER_REPORT, TEXT, URL
from curation.core.stage import Run, Stage
from curation.filters.card import ClassifierCard, is_numeric
from curation.filters.splits import SplitMode, holdout_split

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
    url_column: str = Field(
        URL,
        description="Column of page URLs: when the table has it, rows are held out by site (registered domain).",
    )
    site_fallback_column: str | None = Field(
        "source",
        description="Column grouping rows without an http(s) URL, if the table has it (else one group each).",
    )
    split: SplitMode = Field(
        "auto",
        description="Held-out split: auto (by site when the table has URLs, else by row), site or row.",
    )
    test_fraction: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="Held-out share: of the sites (by site) or of the distinct texts (by row).",
    )
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


def _fit(
    backend: str,
    target: str,
    texts: list[str],
    labels: list[str],
    label_set: list[str],
    groups: np.ndarray,
    out: Path,
    cfg: ClassifierTrainConfig,
) -> tuple[str, dict[str, Any]]:
    """Train on the training part; the model file's name and what the backend chose (TF-IDF: its params)."""
    from curation.filters.backends import fasttext_model, hf_model, tfidf_model

    ys: list[Any] = [float(y) for y in labels] if target == "regression" else labels
    if backend == "fasttext":
        if target == "regression":
            raise CurationError("backend fasttext cannot do target regression: use classes or tfidf")
        return fasttext_model.train_fasttext(texts, labels, out, cfg.params), {}
    if backend == "tfidf":
        return tfidf_model.train_tfidf(texts, ys, target, out, cfg.params, groups, cfg.seed)
    if not cfg.encoder:
        raise CurationError("backend transformers needs 'encoder' (a local encoder dir or hub id)")
    return hf_model.finetune(cfg.encoder, texts, ys, target, label_set, out, cfg.params), {}


def constant_baseline(train_labels: list[str], truth: list[str]) -> dict[str, Any]:
    """Numeric targets: the training mode predicted for every held-out row, scored like the model."""
    from collections import Counter

    from curation.filters.metrics import numeric_report

    mode = float(Counter(train_labels).most_common(1)[0][0])
    values = np.array([float(y) for y in truth])
    report = numeric_report(values, np.full(len(values), mode))
    return {"prediction": mode, **{k: report[k] for k in CONSTANT_METRICS}}


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
        # backends write the model folder with local libraries: on object storage it is made in a local
        # folder and published to the output when complete
        staged = io.is_remote(cfg.output)
        out = (
            Path(tempfile.mkdtemp(prefix="classifier-train-")) if staged else Path(io.local_path(cfg.output))
        )
        out.mkdir(parents=True, exist_ok=True)
        frame = read_labelled(
            cfg.data,
            cfg.text_column,
            cfg.label_column,
            cfg.label_sql,
            {"url": cfg.url_column, "fallback": cfg.site_fallback_column},
        )
        texts, labels = frame["text"].to_list(), label_strings(frame["label"])
        label_set = sorted(set(labels), key=float) if is_numeric(sorted(set(labels))) else sorted(set(labels))
        if len(label_set) < 2:
            raise CurationError(f"need at least two distinct labels in {cfg.data}, found {label_set}")
        backend = choose_backend(cfg, len(texts))
        target = choose_target(cfg, label_set, backend)
        strata = np.array([str(min(float(y), 4.0)) if target == "regression" else y for y in labels])
        urls = frame["url"].to_list() if "url" in frame.columns else None
        fallback = frame["fallback"].to_list() if "fallback" in frame.columns else None
        held = holdout_split(
            texts, strata, urls, fallback, cfg.site_fallback_column, cfg.split, cfg.test_fraction, cfg.seed
        )
        started = time.perf_counter()
        train_texts, train_labels = [texts[i] for i in held.train], [labels[i] for i in held.train]
        model_file, fitted = _fit(
            backend, target, train_texts, train_labels, label_set, held.groups[held.train], out, cfg
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
                "text_column": cfg.text_column,
                "label": cfg.label_sql or cfg.label_column,
                "train_rows": len(held.train),
                "test_rows": len(held.test),
                "split": held.info,
                **fitted,
            },
        )
        card.save(out)
        test_texts, test_truth = [texts[i] for i in held.test], [labels[i] for i in held.test]
        scores = load_scorer(str(out)).score(test_texts)
        report = {
            "task": cfg.task,
            "backend": backend,
            "target": target,
            "score": card.score,
            "labels": label_set,
            "train_rows": len(held.train),
            "test_rows": len(held.test),
            "split": held.info,
            "train_seconds": round(train_seconds, 2),
            **fitted,
            **evaluate(card, scores, test_truth, out),
        }
        baselines = {}
        if is_numeric(card.labels) and card.target != "binary":
            baselines["constant"] = constant_baseline(train_labels, test_truth)
        if cfg.baseline_badwords:
            baselines.update(baseline(cfg, test_texts, test_truth, card))
        if baselines:
            report["baselines"] = baselines
        heldout = pl.DataFrame({"text": test_texts, "label": test_truth, "score": scores})
        if urls is not None:
            heldout = heldout.with_columns(pl.Series(URL, [urls[i] for i in held.test], dtype=pl.Utf8))
        io.write_parquet(out / CLASSIFIER_HELDOUT, heldout.to_arrow())
        io.write_json(out / CLASSIFIER_REPORT, report)
        if staged:
            io.publish_dir(str(out), cfg.output)
        return report

    def render(self, stats: dict[str, Any]) -> str:
        r = stats["summary"]
        headline = {k: r[k] for k in HEADLINE_METRICS if r.get(k) is not None}
        figures = ", ".join(f"{k} {v:.3f}" for k, v in headline.items())
        constant = r.get("baselines", {}).get("constant")
        if constant:
            figures += (
                f" (constant prediction: accuracy_within_1 {constant['accuracy_within_1']:.3f}, no spearman)"
            )
        return (
            f"{r['task']}: {r['backend']} {r['target']} on {r['train_rows']:,} rows, "
            f"held-out {r['test_rows']:,} {describe_split(r['split'])}: {figures} -> {self.cfg.output}"
        )


def describe_split(info: dict[str, Any]) -> str:
    """``by site (49 of 243 groups; 33 rows without a site, grouped by source)`` or ``by row (...)``."""
    if info["split"] == "site":
        detail = f"{info['test_groups']:,} of {info['groups']:,} sites"
        if info["rows_without_site"]:
            detail += f"; {info['rows_without_site']:,} rows without a site, grouped by {info['rows_without_site_grouped_by']}"
        return f"by site ({detail})"
    return (
        f"by row ({info['test_groups']:,} of {info['groups']:,} distinct texts; no URL column or split row)"
    )


HEADLINE_METRICS = ("roc_auc", "macro_f1", "spearman", "accuracy_within_1")
CONSTANT_METRICS = ("spearman", "accuracy_within_1", "accuracy_rounded", "mae")
