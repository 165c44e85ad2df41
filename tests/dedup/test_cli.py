"""The `curation dedup` command line: flags reach the config, user errors exit 2 with one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import polars as pl
import yaml

from curation.core.schema import CONFIG_FILE, REMOVED_DIR, RUN_DIR
from tests.dedup.conftest import cli_args, write_shards


def test_cli_run_and_config(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled.head(200), n_shards=2)
    out = tmp_path / "out"
    extra = "--no-url --minhash.threshold 0.8 --minhash.bands 10 --minhash.rows 12 --write-removed".split()
    proc = subprocess.run(cli_args(src, out, *extra), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "kept" in proc.stdout  # the summary goes to stdout, progress to stderr
    config = yaml.safe_load((out / RUN_DIR / CONFIG_FILE).read_text())
    assert config["command"] == "dedup"
    assert config["config"]["minhash"]["threshold"] == 0.8 and config["config"]["url"]["enabled"] is False
    assert config["config"]["write_removed"] is True and config["config"]["exact"]["enabled"] is True
    assert config["resolved"] == {"partitions": 2, "shards": 2, "bands": 10, "rows": 12}
    assert (out / "part-00000.parquet").exists() and (out / REMOVED_DIR / "part-00001.parquet").exists()


def test_cli_user_error_exits_2(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled.head(3), n_shards=1)
    proc = subprocess.run(
        cli_args(src, tmp_path / "out", "--keep", "highest:edu_score"), capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: column 'edu_score' not found in {src}/part-00000.parquet"
    ]
