"""Fixtures for filters: real texts as shards, ToLD-BR, tiny models built from configs (no downloads)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from curation.core.schema import ID, LANG

LLAMA_TOKENIZER = "tokenizers/dolma_test_tokenizers/llama-test-tokenizer.json"
TOLD_LABEL_SQL = "GREATEST(homophobia, obscene, insult, racism, misogyny, xenophobia) >= 2"


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def labels_path(data_dir: Path) -> Path:
    return data_dir / "labels" / "web_docs_llm_judged.jsonl"


@pytest.fixture(scope="session")
def told_path(data_dir: Path) -> Path:
    return data_dir / "toxicity" / "told_br" / "ToLD-BR.csv"


@pytest.fixture(scope="session")
def badword_dir(data_dir: Path) -> Path:
    return data_dir / "toxicity"


@pytest.fixture(scope="session")
def shards_dir(tmp_path_factory: pytest.TempPathFactory, labels_path: Path) -> Path:
    """The real LLM-judged web documents as build-style shards: ``<lang>/part-0.parquet`` (pt, en, other)."""
    root = tmp_path_factory.mktemp("shards")
    frame = pl.read_ndjson(labels_path).rename({"doc_id": ID})
    for name, cond in [
        ("pt", pl.col(LANG) == "pt"),
        ("en", pl.col(LANG) == "en"),
        ("other", ~pl.col(LANG).is_in(["pt", "en"]) | pl.col(LANG).is_null()),
    ]:
        (root / name).mkdir()
        frame.filter(cond).write_parquet(root / name / "part-0.parquet")
    return root


@pytest.fixture(scope="session")
def told_sample(tmp_path_factory: pytest.TempPathFactory, told_path: Path) -> Path:
    """The first 3,000 ToLD-BR tweets (real), for quick training tests."""
    path = tmp_path_factory.mktemp("told") / "told_3000.csv"
    pl.read_csv(told_path).head(3000).write_csv(path)
    return path


def _tokenizer(data_dir: Path, max_tokens: int):  # noqa: ANN202
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(data_dir / LLAMA_TOKENIZER),
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<unk>",
        model_max_length=max_tokens,
    )


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A randomly initialised 2-layer BERT binary classifier with the real Llama test tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_bert")
    tokenizer = _tokenizer(data_dir, 128)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=2,
        pad_token_id=0,
    )
    BertForSequenceClassification(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A randomly initialised 2-layer Llama causal LM (a judge that cannot follow instructions)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny_llama")
    tokenizer = _tokenizer(data_dir, 2048)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
