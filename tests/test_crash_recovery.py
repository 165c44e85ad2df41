"""Crash recovery end to end: `curation build`, `dedup` and `pack` are SIGKILLed at several points, rerun, and
must give the same documents and counts as an uninterrupted run (issue 8)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml

CURATION = [sys.executable, "-m", "curation.cli"]


def _run(args: list[str]) -> float:
    """Run a command to completion; returns its wall seconds."""
    start = time.perf_counter()
    proc = subprocess.run(CURATION + args, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return time.perf_counter() - start


def _kill_then_resume(args: list[str], out: Path, delay_seconds: float) -> bool:
    """Start the command, SIGKILL it after ``delay_seconds`` (if still running), then rerun it to the end.
    Returns whether the kill really interrupted a run."""
    proc = subprocess.Popen(CURATION + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=delay_seconds)
        interrupted = False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        interrupted = True
    _run(args)
    return interrupted


def _documents(folder: Path) -> pl.DataFrame:
    files = sorted(p for p in folder.glob("*.parquet"))
    return pl.read_parquet(files).sort("id") if files else pl.DataFrame()


def _stage_counts(out: Path) -> dict:
    stats = json.loads((out / "_run" / "stats.json").read_text())
    return {name: (st["in"], st["out"], st["dropped"]) for name, st in stats["stages"].items()}


def _kill_points(seed: int, n: int, clean_seconds: float) -> list[float]:
    """Random moments inside the second half of an uninterrupted run (the first is mostly imports)."""
    rng = random.Random(seed)
    return sorted(round(rng.uniform(0.45, 0.95) * clean_seconds, 2) for _ in range(n))


@pytest.fixture(scope="module")
def build_inputs(warc_dir: Path) -> list[str]:
    names = (
        "dolma-wget-sample-0000.warc.gz",
        "dolma-wget-sample-0001.warc.gz",
        "pages-dev.warc.gz",
        "warcio-example.warc.gz",
        "cc-main-2020-34_resiliparse-warcfile.warc.gz",
    )
    return [a for n in names for a in ("--input", str(warc_dir / n))]


@pytest.mark.slow
def test_build_killed_at_random_points_resumes_exactly(tmp_path: Path, build_inputs: list[str]) -> None:
    base = ["build", "--lang", "en", "--executor", "local", "--keep-rejected", *build_inputs]
    clean = tmp_path / "clean"
    seconds = _run([*base, "--output", str(clean)])
    expected, counts = _documents(clean / "en"), _stage_counts(clean)
    interrupted = 0
    for i, delay in enumerate(_kill_points(seed=1, n=3, clean_seconds=seconds)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, delay)
        assert _documents(out / "en").equals(expected), f"kill after {delay}s"
        assert _documents(out / "rejected").equals(_documents(clean / "rejected"))
        assert _stage_counts(out) == counts
    assert interrupted >= 2


@pytest.mark.slow
def test_pack_killed_at_random_points_resumes_exactly(tmp_path: Path, data_dir: Path) -> None:
    spec = {
        "tokenizer": str(data_dir / "tokenizers" / "dolma_test_tokenizers" / "gpt-neo-test-tokenizer.json"),
        "seq_len": 64,
        "total_tokens": 400_000,
        "seed": 3,
        "executor": "local",
        "sources": {
            "pt": {"paths": [str(data_dir / "text" / "pt" / "machado_de_assis" / "*.txt")], "weight": 0.75},
            "en": {"paths": [str(data_dir / "text" / "en" / "nltk" / "**" / "*.txt")], "weight": 0.25},
        },
    }
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(spec))
    _run(["mix", "--spec", str(tmp_path / "mix.yaml"), "--output", str(tmp_path / "mix")])
    base = ["pack", "--manifest", str(tmp_path / "mix"), "--sequences-per-shard", "64", "--executor", "local"]
    clean = tmp_path / "clean"
    seconds = _run([*base, "--output", str(clean)])
    expected = {p.name: p.read_bytes() for p in clean.iterdir() if p.is_file()}
    interrupted = 0
    for i, delay in enumerate(_kill_points(seed=2, n=3, clean_seconds=seconds)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, delay)
        got = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert got == expected, f"kill after {delay}s"
        shutil.rmtree(out)
    assert interrupted >= 1


@pytest.mark.slow
def test_dedup_killed_at_random_points_resumes_exactly(tmp_path: Path, data_dir: Path) -> None:
    docs = pl.read_ndjson(data_dir / "dedup" / "near_duplicates" / "docs.jsonl.gz").select(
        pl.col("doc_id").cast(pl.String).alias("id"), "url", "text"
    )
    shards = tmp_path / "in"
    shards.mkdir()
    for i in range(6):
        docs[i::6].write_parquet(shards / f"part-{i}.parquet")
    base = ["dedup", "--input", str(shards), "--executor", "local", "--write-removed", "--partitions", "3"]
    clean = tmp_path / "clean"
    seconds = _run([*base, "--output", str(clean)])
    expected, removed = _documents(clean), _documents(clean / "removed")
    assert 0 < len(expected) < len(docs)
    interrupted = 0
    for i, delay in enumerate(_kill_points(seed=3, n=3, clean_seconds=seconds)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, delay)
        assert _documents(out).equals(expected), f"kill after {delay}s"
        assert _documents(out / "removed").equals(removed)
    assert interrupted >= 1
