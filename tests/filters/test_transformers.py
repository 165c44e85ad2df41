"""Transformers backend on CPU, tiny models built from a config: scoring, regression heads, fine-tuning."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.core.schema import CLASSIFIER_HELDOUT
from curation.filters.card import ClassifierCard
from curation.filters.scoring import backend_of, load_scorer
from curation.filters.training import ClassifierTrain


def test_hf_dir_scores_like_fasttext_interface(tiny_bert_dir, labels_path):
    texts = pl.read_ndjson(labels_path)["text"].to_list()[:20]
    scorer = load_scorer(f"quality={tiny_bert_dir}", batch_size=8)
    assert backend_of(str(tiny_bert_dir)) == "transformers"
    assert scorer.task == "quality" and scorer.card.target == "binary"
    assert scorer.max_tokens == 128  # long real pages are truncated to the model's length
    scores = scorer.score(texts)
    assert scores.shape == (20,) and scores.dtype == np.float32
    assert ((scores > 0) & (scores < 1)).all()
    # batching and length sorting do not change a text's score
    single = np.concatenate([scorer.score([t]) for t in texts[:4]])
    assert np.allclose(single, scores[:4], atol=1e-5)


def test_regression_head_is_a_regression_card(tmp_path, tiny_bert_dir, data_dir):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    config = BertConfig.from_pretrained(tiny_bert_dir)
    config.num_labels = 1
    BertForSequenceClassification(config).save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(tiny_bert_dir).save_pretrained(tmp_path)
    scorer = load_scorer(f"edu={tmp_path}")
    assert scorer.card.target == "regression"
    assert scorer.score(["Uma frase.", "Outra frase mais longa."]).shape == (2,)


def test_finetune_learns_a_real_signal_and_writes_a_transformers_classifier(
    tmp_path, tiny_bert_dir, labels_path
):
    """English or not, on the real web documents held out by site: a random 2-layer encoder is at chance, the
    fine-tuned one must separate them (a fine-tune that does not update or save the weights cannot)."""
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "ft"
    report = ClassifierTrain.call(
        task="english",
        data=str(labels_path),
        label_sql="lang = 'en'",
        output=str(out),
        backend="transformers",
        encoder=str(tiny_bert_dir),
        params={"epochs": 3, "batch_size": 16, "max_tokens": 64, "lr": 1e-3},
    )["summary"]
    card = ClassifierCard.load(out)
    assert card.backend == "transformers" and card.model_file == "model" and card.positive_label == "1"
    assert report["split"]["split"] == "site" and report["test_rows"] > 40
    heldout = pl.read_parquet(out / CLASSIFIER_HELDOUT)
    truth = (heldout["label"] == "1").to_numpy()
    assert 0.2 < truth.mean() < 0.9  # both classes held out
    untrained = roc_auc_score(truth, load_scorer(str(tiny_bert_dir)).score(heldout["text"].to_list()))
    assert abs(untrained - 0.5) < 0.25 and report["roc_auc"] >= 0.9 > untrained + 0.15
    rescored = load_scorer(str(out)).score(heldout["text"].to_list())
    assert np.allclose(rescored, heldout["score"].to_numpy(), atol=1e-5)
    assert roc_auc_score(truth, rescored) == pytest.approx(report["roc_auc"])


@pytest.mark.gpu
def test_gpu_scoring_is_bf16_and_close_to_cpu(tiny_bert_dir, labels_path):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA GPU")
    texts = pl.read_ndjson(labels_path)["text"].to_list()[:64]
    gpu = load_scorer(str(tiny_bert_dir), device="cuda")
    assert next(gpu.model.parameters()).dtype == torch.bfloat16
    cpu = load_scorer(str(tiny_bert_dir), device="cpu")
    assert np.allclose(gpu.score(texts), cpu.score(texts), atol=0.02)
