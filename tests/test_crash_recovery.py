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


def _run(args: list[str]) -> None:
    """Run a command to completion."""
    proc = subprocess.run(CURATION + args, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _done_records(out: Path) -> int:
    """Completion records a run has written so far (one per finished unit of work)."""
    done = out / "_run" / "done"
    return sum(1 for p in done.rglob("*.json") if p.name != "fingerprint.json") if done.is_dir() else 0


def _kill_then_resume(args: list[str], out: Path, point: tuple[int, float]) -> bool:
    """Start the command, SIGKILL it ``point[1]`` seconds after its ``point[0]``-th completion record appears (if
    it is still running), then rerun it to the end. Returns whether the kill really interrupted a run."""
    after_records, extra_seconds = point
    proc = subprocess.Popen(CURATION + args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and _done_records(out) < after_records:
        time.sleep(0.02)
    time.sleep(extra_seconds)
    interrupted = proc.poll() is None
    proc.kill()
    proc.wait()
    _run(args)
    return interrupted


def _documents(folder: Path) -> pl.DataFrame:
    files = sorted(p for p in folder.glob("*.parquet"))
    return pl.read_parquet(files).sort("id") if files else pl.DataFrame()


def _stage_counts(out: Path) -> dict:
    stats = json.loads((out / "_run" / "stats.json").read_text())
    return {name: (st["in"], st["out"], st["dropped"]) for name, st in stats["stages"].items()}


def _kill_points(seed: int, n: int, clean: Path) -> list[tuple[int, float]]:
    """Random moments of a run, as (completion records written, seconds after that): the moments are tied to
    the run's progress, not the wall clock, so a busy or an idle machine interrupts the same work."""
    total = _done_records(clean)
    assert total >= 3, f"{clean}: {total} units of work is too few to interrupt"
    rng = random.Random(seed)
    return sorted((rng.randint(1, total - 2), round(rng.uniform(0.0, 0.2), 2)) for _ in range(n))


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
    _run([*base, "--output", str(clean)])
    expected, counts = _documents(clean / "en"), _stage_counts(clean)
    interrupted = 0
    for i, point in enumerate(_kill_points(seed=1, n=3, clean=clean)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, point)
        assert _documents(out / "en").equals(expected), f"killed at {point}"
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
    _run([*base, "--output", str(clean)])
    expected = {p.name: p.read_bytes() for p in clean.iterdir() if p.is_file()}
    interrupted = 0
    for i, point in enumerate(_kill_points(seed=2, n=3, clean=clean)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, point)
        got = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert got == expected, f"killed at {point}"
        shutil.rmtree(out)
    assert interrupted >= 2


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
    _run([*base, "--output", str(clean)])
    expected, removed = _documents(clean), _documents(clean / "removed")
    assert 0 < len(expected) < len(docs)
    interrupted = 0
    for i, point in enumerate(_kill_points(seed=3, n=3, clean=clean)):
        out = tmp_path / f"killed-{i}"
        interrupted += _kill_then_resume([*base, "--output", str(out)], out, point)
        assert _documents(out).equals(expected), f"killed at {point}"
        assert _documents(out / "removed").equals(removed)
    assert interrupted >= 2
