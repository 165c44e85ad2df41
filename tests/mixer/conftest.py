"""Fixtures for the mixer tests: real text and tokenizers, scored Parquet shards from real labels."""

from __future__ import annotations

import copy
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml

from curation.core.schema import DUP_CLUSTER_SIZE, LANG, TEXT, score_column

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def gpt_neo(data_dir: Path) -> str:
    """GPT-NeoX BPE (50,280 ids: packs as uint16)."""
    return str(data_dir / "tokenizers" / "dolma_test_tokenizers" / "gpt-neo-test-tokenizer.json")


@pytest.fixture(scope="session")
def pt_glob(data_dir: Path) -> str:
    """15 short works of Machado de Assis (about 134k GPT-NeoX tokens)."""
    return str(data_dir / "text" / "pt" / "machado_de_assis" / "a-*.txt")


@pytest.fixture(scope="session")
def en_jsonl(data_dir: Path) -> str:
    """10 real CCNet English web documents (about 25k tokens)."""
    return str(data_dir / "text" / "en" / "cc_en_head" / "cc_en_head-0091.jsonl.gz")


@pytest.fixture(scope="session")
def scored_dir(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two Parquet shards of the 333 LLM-judged web documents, with their real edu/stem/toxic scores."""
    df = pl.read_ndjson(data_dir / "labels" / "web_docs_llm_judged.jsonl").select(
        pl.col("text").alias(TEXT),
        pl.col("lang").alias(LANG),
        *(pl.col(task).cast(pl.Float32).alias(score_column(task)) for task in ("edu", "stem", "toxic")),
    )
    out = tmp_path_factory.mktemp("scored") / "web"
    out.mkdir()
    half = df.height // 2
    df[:half].write_parquet(out / "part-0.parquet")
    df[half:].write_parquet(out / "part-1.parquet")
    return out


@pytest.fixture(scope="session")
def dup_shard(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real near-duplicate news texts with ``dup_cluster_size`` = the size of their labelled cluster."""
    df = pl.read_ndjson(data_dir / "dedup" / "near_duplicates" / "docs.jsonl.gz").select("text", "cluster_id")
    first = df["cluster_id"].unique(maintain_order=True)[:25]  # 25 whole clusters keep the test quick
    df = df.filter(pl.col("cluster_id").is_in(first.implode()))
    df = df.with_columns(pl.len().over("cluster_id").alias(DUP_CLUSTER_SIZE))
    path = tmp_path_factory.mktemp("dups") / "news.parquet"
    df.write_parquet(path)
    return path


@pytest.fixture(scope="session")
def token_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A token cache shared by the tests that are not about tokenization (entries are keyed by content)."""
    return str(tmp_path_factory.mktemp("token_cache"))


@pytest.fixture(scope="session")
def write_spec():
    """Write a spec dict as YAML and return its path."""

    def write(path: Path, spec: dict) -> Path:
        path.write_text(yaml.safe_dump(spec, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def spec_template(gpt_neo: str, pt_glob: str, en_jsonl: str) -> dict:
    """75% Portuguese / 25% English replay, 40k tokens in sequences of 64, run in-process."""
    return {
        "tokenizer": gpt_neo,
        "seq_len": 64,
        "total_tokens": 40_000,
        "seed": 0,
        "executor": "local",
        "sources": {
            "pt": {"paths": [pt_glob], "weight": 0.75, "max_epochs": 1},
            "en_replay": {"paths": [en_jsonl], "weight": 0.25, "max_epochs": 1},
        },
    }


@pytest.fixture
def base_spec(spec_template: dict) -> dict:
    """A fresh copy of the template spec, free to modify."""
    return copy.deepcopy(spec_template)
