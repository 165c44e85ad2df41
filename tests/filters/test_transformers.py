"""Transformers backend on CPU, tiny models built from a config: scoring, regression heads, fine-tuning."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from curation.core.schema import CLASSIFIER_HELDOUT
from curation.filters.card import ClassifierCard
from curation.filters.scoring import backend_of, load_scorer
from curation.filters.training import ClassifierTrain
from tests.filters.conftest import TOLD_LABEL_SQL


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


def test_finetune_encoder_writes_a_transformers_classifier(tmp_path, tiny_bert_dir, told_sample):
    small = tmp_path / "told_400.csv"
    pl.read_csv(told_sample).head(400).write_csv(small)
    out = tmp_path / "ft"
    report = ClassifierTrain.call(
        task="toxicity",
        data=str(small),
        label_sql=TOLD_LABEL_SQL,
        output=str(out),
        backend="transformers",
        encoder=str(tiny_bert_dir),
        params={"epochs": 1, "batch_size": 16, "max_tokens": 64},
    )["summary"]
    card = ClassifierCard.load(out)
    assert card.backend == "transformers" and card.model_file == "model"
    assert report["roc_auc"] is not None and report["test_rows"] == 80
    heldout = pl.read_parquet(out / CLASSIFIER_HELDOUT)
    rescored = load_scorer(str(out)).score(heldout["text"].to_list())
    assert np.allclose(rescored, heldout["score"].to_numpy(), atol=1e-5)


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
