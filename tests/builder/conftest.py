"""Helpers for build tests: run `curation build` in-process (local executor) and read its output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from curation.cli import app


def run_cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def build(out: Path, inputs: list[str], lang: str | list[str] = "en", **extra: Any) -> dict[str, Any]:
    """`curation build` in-process (local executor); returns its stats.json content."""
    from curation.builder.stage import Build

    langs = [lang] if isinstance(lang, str) else lang
    return Build.call(lang=langs, input=inputs, output=str(out), **{"executor": "local", **extra})


def read_docs(out: Path, folder: str) -> pl.DataFrame:
    files = sorted((out / folder).glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.DataFrame()


def stats_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "_run" / "stats.json").read_text())


@pytest.fixture(scope="session")
def pt_build(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path) -> Path:
    """One Portuguese build over every real WARC, with rejected documents kept (shared by many tests)."""
    out = tmp_path_factory.mktemp("pt_build")
    build(out, [str(warc_dir / "*.warc.gz")], "pt", keep_rejected=True)
    return out
