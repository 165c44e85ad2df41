"""Fixtures for dedup tests: the real labelled near-duplicates, and a helper that runs `curation dedup`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from benchmarks.dedup_eval import load_labelled
from curation.core.config import set_dotted
from curation.core.schema import REMOVED_DIR
from curation.dedup.stage import Dedup


@pytest.fixture(scope="session")
def labelled_path(data_dir: Path) -> str:
    return str(data_dir / "dedup" / "near_duplicates" / "docs.jsonl.gz")


@pytest.fixture(scope="session")
def labelled(labelled_path: str) -> pl.DataFrame:
    return load_labelled(labelled_path)


def write_shards(folder: Path, df: pl.DataFrame, n_shards: int = 2) -> Path:
    """Split ``df`` into ``n_shards`` Parquet files under ``folder/in``."""
    src = folder / "in"
    src.mkdir(parents=True, exist_ok=True)
    size = -(-df.height // n_shards) if df.height else 0
    for k in range(n_shards):
        df.slice(k * size, size).write_parquet(src / f"part-{k:05d}.parquet")
    return src


def dedup(src: Path, out: Path, **overrides: Any) -> dict[str, Any]:
    """Run dedup in-process (local executor unless overridden; dotted keys for nested ones such as
    ``minhash.verify``); returns stats.json's content (the dedup summary is under ``summary``)."""
    keys: dict[str, Any] = {}
    for key, value in {"input": [str(src)], "output": str(out), "executor": "local", **overrides}.items():
        set_dotted(keys, key, value)
    return Dedup.call(**keys)


def cli_args(src: Path, out: Path, *extra: str) -> list[str]:
    """Command line of a `curation dedup` subprocess with the local executor."""
    return [
        sys.executable,
        "-m",
        "curation.cli",
        "dedup",
        "-i",
        str(src),
        "-o",
        str(out),
        "--executor",
        "local",
        *extra,
    ]


def read_output(out: Path, removed: bool = False) -> pl.DataFrame:
    folder = out / REMOVED_DIR if removed else out
    files = sorted(p for p in folder.glob("*.parquet"))
    return pl.concat([pl.read_parquet(f) for f in files]) if files else pl.DataFrame()
