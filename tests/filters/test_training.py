"""`classifier train` on real labels: ToLD-BR toxicity (binary) and LLM-judged edu/STEM (0-5)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from curation.core import io
from curation.core.errors import CurationError
from curation.core.schema import (
    CLASSIFIER_CARD,
    CLASSIFIER_HELDOUT,
    CLASSIFIER_REPORT,
    CONFIG_FILE,
    RUN_DIR,
    STATS_FILE,
)
from curation.filters.backends.tfidf_model import (
    PREVIOUS_REGRESSION_PARAMS,
    fold_tfidf,
    kernel_ridge_predict,
    ngram_counts,
    resolve_params,
    text_features,
)
from curation.filters.card import ClassifierCard
from curation.filters.scoring import load_scorer
from curation.filters.splits import registered_domain
from curation.filters.training import ClassifierTrain
from tests.filters.conftest import TOLD_LABEL_SQL

SMALL_FASTTEXT = {"epoch": 10, "bucket": 200_000}
# Spearman floors on the held-out sites: below the lowest figure of the default over 20 site-grouped splits
# (edu 0.428, STEM 0.471 at seeds 0-19; seed 0, tested here, gives 0.699 / 0.693). A constant prediction has no
# Spearman and a model trained on shuffled labels stays far below (test_labels_shuffled_...).
SPEARMAN_FLOOR = {"edu": 0.40, "stem": 0.45}


def train(out, **config) -> dict:
    """Run `classifier train` in-process; returns its summary (the held-out report)."""
    return ClassifierTrain.call(output=str(out), **config)["summary"]


def _files_written(out):
    for name in (CLASSIFIER_CARD, CLASSIFIER_REPORT, CLASSIFIER_HELDOUT, "report.png"):
        assert (out / name).is_file(), name
    assert (out / RUN_DIR / CONFIG_FILE).is_file() and (out / RUN_DIR / STATS_FILE).is_file()


def test_default_toxicity_on_told_br_beats_auc_080_and_badwords(tmp_path, told_path, badword_dir):
    out = tmp_path / "tox"
    report = train(
        out,
        task="toxicity",
        data=str(told_path),
        label_sql=TOLD_LABEL_SQL,
        baseline_badwords=[str(badword_dir)],
        baseline_lang="pt",
    )
    _files_written(out)
    assert report["backend"] == "tfidf" and report["target"] == "binary"
    assert report["roc_auc"] >= 0.80
    assert report["baselines"]["badword_count_roc_auc"] < report["roc_auc"]
    assert set(report["per_class"]) == {"0", "1"} and 0 < report["macro_f1"] <= 1
    assert len(report["threshold_sweep"]) == 19 and report["confusion_matrix"]["labels"] == ["0", "1"]
    heldout = pl.read_parquet(out / CLASSIFIER_HELDOUT)
    assert heldout.height == report["test_rows"] and abs(heldout["label"].cast(int).mean() - 0.195) < 0.01
    # tweets have no URL: split by row, every copy of a repeated text on the same side
    split = report["split"]
    assert (
        split["split"] == "row"
        and split["rows_without_site"] == 16_884
        and split["duplicate_text_rows"] == 145
    )
    everywhere = Counter(" ".join(t.split()) for t in pl.read_csv(told_path)["text"].to_list())
    held = Counter(" ".join(t.split()) for t in heldout["text"].to_list())
    assert sum(n > 1 for n in held.values()) > 0 and all(everywhere[t] == n for t, n in held.items())


def meets_floor(figures: dict, task: str) -> bool:
    return figures["spearman"] is not None and figures["spearman"] > SPEARMAN_FLOOR[task]


def site_of(row: dict) -> str:
    return registered_domain(row["url"]) or f"source {row['source']}"


@pytest.mark.parametrize("task", ["edu", "stem"])
def test_default_on_llm_judged_labels_holds_out_sites_and_beats_spearman_floor(tmp_path, labels_path, task):
    out = tmp_path / task
    report = train(out, task=task, data=str(labels_path), label_column=task)
    _files_written(out)
    assert report["backend"] == "tfidf" and report["target"] == "regression"
    assert report["split"] == {
        "split": "site",
        "groups": 243,
        "test_groups": 49,
        "rows_without_site": 33,  # 'url' is a file name: grouped by the source column
        "rows_without_site_grouped_by": "source",
    }
    rows = pl.read_ndjson(labels_path).to_dicts()
    held = pl.read_parquet(out / CLASSIFIER_HELDOUT)
    held_keys = set(zip(held["url"].to_list(), held["text"].to_list(), strict=True))
    held_sites = {site_of(r) for r in rows if (r["url"], r["text"]) in held_keys}
    train_sites = {site_of(r) for r in rows if (r["url"], r["text"]) not in held_keys}
    assert len(held_sites) == 49 and not held_sites & train_sites
    assert report["train_rows"] + report["test_rows"] == len(rows) and held.height == report["test_rows"]
    # the model clears the floor; a constant prediction cannot (no Spearman), whatever its accuracy within 1
    assert meets_floor(report, task)
    constant = report["baselines"]["constant"]
    assert not meets_floor(constant, task) and constant["accuracy_within_1"] > 0.7
    # hyper-parameters chosen by grouped CV on the training part, recorded in the report and the card
    chosen = report["selection"]["chosen"]
    assert len(report["selection"]["grid"]) == 16 and chosen["cv_spearman"] is not None
    assert report["params"]["stats_weight"] == chosen["stats_weight"] and report["params"]["char_ngrams"] == [
        3,
        6,
    ]
    assert ClassifierCard.load(out).details["params"] == report["params"]
    assert json.loads((out / CLASSIFIER_REPORT).read_text())["spearman"] == report["spearman"]
    scores = load_scorer(str(out)).score(["Texto qualquer."])
    assert scores.dtype == np.float32 and scores.shape == (1,)


def test_labels_shuffled_within_the_data_fail_the_floor(tmp_path, labels_path):
    """The floor separates a model that learned the judge's scores from one that learned noise."""
    frame = pl.read_ndjson(labels_path)
    shuffled = frame.with_columns(
        pl.Series("edu", np.random.default_rng(0).permutation(frame["edu"].to_numpy()))
    )
    path = tmp_path / "shuffled.jsonl"
    shuffled.write_ndjson(path)
    report = train(tmp_path / "noise", task="edu", data=str(path), label_column="edu")
    assert report["split"]["split"] == "site" and not meets_floor(report, "edu")


def test_previous_default_and_old_model_dirs_still_score(tmp_path, labels_path):
    """The previous numeric default stays one params dict away, and a model dir whose card predates the split
    and params details still loads and scores the same."""
    out = tmp_path / "old"
    report = train(
        out, task="stem", data=str(labels_path), label_column="stem", params=PREVIOUS_REGRESSION_PARAMS
    )
    assert report["params"]["alpha"] == 1.0 and "selection" not in report
    card = json.loads((out / CLASSIFIER_CARD).read_text())
    card["details"] = {k: card["details"][k] for k in ("text_column", "label", "train_rows", "test_rows")}
    (out / CLASSIFIER_CARD).write_text(json.dumps(card))
    heldout = pl.read_parquet(out / CLASSIFIER_HELDOUT)
    assert np.allclose(load_scorer(str(out)).score(heldout["text"].to_list()), heldout["score"].to_numpy())


def test_reads_labels_from_and_writes_the_model_to_object_storage(s3_server, tmp_path, labels_path):
    """On S3 (a real moto server) the labels are read, the model folder is published complete, it scores from
    there, and the figures equal a local run's; nothing lands in a local folder named after the URL."""
    _, options, s3 = s3_server
    s3.create_bucket(Bucket="labels")
    s3.upload_file(str(labels_path), "labels", "judged.jsonl")
    config = {"task": "stem", "label_column": "stem", "params": PREVIOUS_REGRESSION_PARAMS}
    remote = train(
        "s3://labels/models/stem", data="s3://labels/judged.jsonl", storage_options=options, **config
    )
    local = train(tmp_path / "stem", data=str(labels_path), **config)
    assert remote["split"] == local["split"] and remote["spearman"] == local["spearman"] is not None
    listed = s3.list_objects_v2(Bucket="labels", Prefix="models/stem/")["Contents"]
    names = {o["Key"].removeprefix("models/stem/") for o in listed}
    assert {CLASSIFIER_CARD, CLASSIFIER_REPORT, CLASSIFIER_HELDOUT, "report.png", "model.joblib"} <= names
    assert f"{RUN_DIR}/{STATS_FILE}" in names and not list(Path.cwd().glob("s3:*"))
    heldout = pl.read_parquet(tmp_path / "stem" / CLASSIFIER_HELDOUT)
    io.set_storage_options(options)
    try:
        scores = load_scorer("s3://labels/models/stem").score(heldout["text"].to_list())
    finally:
        io.set_storage_options({})
    assert np.allclose(scores, heldout["score"].to_numpy(), atol=1e-5)


def test_grid_search_solves_the_same_ridge_as_scikit_learn(labels_path):
    """Inside the grid search, fold TF-IDF from shared counts and the dual ridge equal a TfidfVectorizer fitted
    on the fold and scikit-learn's Ridge."""
    from sklearn.linear_model import Ridge

    frame = pl.read_ndjson(labels_path).head(150)
    texts, y = frame["text"].to_list(), frame["stem"].cast(float).to_numpy()
    p = resolve_params("regression", {})
    train_idx, test_idx = np.arange(120), np.arange(120, 150)
    (counts,) = ngram_counts(p, texts)
    a, b = fold_tfidf(counts, train_idx, test_idx, p)
    vectorizer = text_features(p).fit(texts[:120])
    x_train, x_test = vectorizer.transform(texts[:120]), vectorizer.transform(texts[120:])
    assert a.shape == x_train.shape and np.allclose(
        (b @ a.T).toarray(), (x_test @ x_train.T).toarray(), atol=1e-5
    )
    dual = kernel_ridge_predict((a @ a.T).toarray(), (b @ a.T).toarray(), y[train_idx], 0.1)
    primal = Ridge(alpha=0.1).fit(x_train, y[train_idx]).predict(x_test)
    assert np.abs(dual - primal).max() < 1e-3 and np.std(dual) > 0.1


def test_fasttext_trains_predicts_and_loads_raw(tmp_path, told_sample):
    out = tmp_path / "ft"
    report = train(
        out,
        task="toxicity",
        data=str(told_sample),
        label_sql=TOLD_LABEL_SQL,
        backend="fasttext",
        params={**SMALL_FASTTEXT, "lr": 0.2},  # lr 0.5 hits NaN now and then on these 3,000 tweets
    )
    assert report["backend"] == "fasttext" and report["roc_auc"] > 0.6
    card = ClassifierCard.load(out)
    assert card.model_file == "model.bin" and card.positive_label == "1"
    texts = pl.read_parquet(out / CLASSIFIER_HELDOUT)["text"].to_list()[:50]
    from_card = load_scorer(str(out)).score(texts)
    raw = load_scorer(f"tox={out / 'model.bin'}")
    assert raw.task == "tox" and np.allclose(raw.score(texts), from_card)
    assert ((from_card >= 0) & (from_card <= 1)).all()


def test_fasttext_ordinal_scores_are_expected_values(tmp_path, labels_path):
    out = tmp_path / "ft_edu"
    report = train(
        out, task="edu", data=str(labels_path), label_column="edu", backend="fasttext", params=SMALL_FASTTEXT
    )
    assert report["target"] == "classes" and "spearman" in report
    scores = load_scorer(str(out)).score(pl.read_ndjson(labels_path)["text"].to_list()[:20])
    assert ((scores >= 0) & (scores <= 5)).all() and len(set(scores.round(4))) > 1


def test_user_errors_name_the_problem(tmp_path, labels_path, told_sample):
    with pytest.raises(CurationError, match="unknown column 'eduu'"):
        train(tmp_path, task="edu", data=str(labels_path), label_column="eduu")
    with pytest.raises(CurationError, match="not found"):
        train(tmp_path, task="edu", data=str(tmp_path / "x.csv"), label_column="edu")
    with pytest.raises(CurationError, match="regression"):
        train(
            tmp_path,
            task="edu",
            data=str(labels_path),
            label_column="edu",
            backend="fasttext",
            target="regression",
        )
    with pytest.raises(CurationError, match="unknown tfidf params"):
        train(tmp_path, task="edu", data=str(labels_path), label_column="edu", params={"alpah": 1})
    with pytest.raises(CurationError, match="grids are searched for regression only"):
        train(
            tmp_path,
            task="t",
            data=str(told_sample),
            label_sql=TOLD_LABEL_SQL,
            params={"stats_weight": [0, 1]},
        )
    with pytest.raises(CurationError, match="split by site needs URLs"):
        train(tmp_path, task="t", data=str(told_sample), label_sql=TOLD_LABEL_SQL, split="site")


def test_named_classes_score_the_positive_label(tmp_path, told_sample):
    label = "CASE WHEN insult >= 2 THEN 'insult' WHEN obscene >= 2 THEN 'obscene' ELSE 'clean' END"
    out = tmp_path / "named"
    report = train(
        out, task="insult", data=str(told_sample), label_sql=label, target="classes", positive_label="insult"
    )
    card = ClassifierCard.load(out)
    assert card.labels == ["clean", "insult", "obscene"] and card.score == "probability of positive_label"
    assert set(report["per_class"]) == {"rest", "insult"} and report["roc_auc"] > 0.6
    assert (out / "report.png").is_file()
