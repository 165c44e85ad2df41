import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from curation.core.schema import INVENTORY_FILE, MANIFEST_FILE, PACK_INFO_FILE, SUMMARY_FILE


def _curation(*args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "curation.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_inventory_counts_per_source_language_and_score_bucket(
    tmp_path: Path, scored_dir: Path, gpt_neo: str
):
    out = tmp_path / "inv"
    _curation(
        "inventory", "-i", str(scored_dir), "--tokenizer", gpt_neo, "-o", str(out), "--executor", "local"
    )
    table = pl.read_parquet(out / INVENTORY_FILE)
    totals = table.filter(pl.col("score").is_null())
    source = pl.read_parquet(scored_dir)
    assert totals["docs"].sum() == source.height
    assert dict(totals.select("lang", "docs").iter_rows()) == dict(source["lang"].value_counts().iter_rows())
    for score in ("edu_score", "stem_score", "toxic_score"):
        buckets = table.filter(pl.col("score") == score)
        assert buckets["tokens"].sum() == totals["tokens"].sum()
        assert set(buckets["bucket"].drop_nulls()) <= set(range(6))
    pt_edu3 = table.filter(
        (pl.col("score") == "edu_score") & (pl.col("lang") == "pt") & (pl.col("bucket") == 3)
    )
    expected = source.filter((pl.col("lang") == "pt") & (pl.col("edu_score").floor() == 3)).height
    assert pt_edu3["docs"].sum() == expected
    stats = json.loads((out / "_run" / "stats.json").read_text())
    assert stats["stage"] == "inventory" and stats["units"]["processed"] == stats["units"]["total"] == 2
    assert stats["summary"]["tokens"] == totals["tokens"].sum()
    assert stats["summary"]["docs"] == source.height and stats["summary"]["files"] == 2
    assert (out / "_run" / "config.yaml").exists() and (out / "_run" / "tokens_by_source.png").exists()


def test_mix_then_pack_from_the_command_line(tmp_path: Path, base_spec: dict, write_spec):
    spec = write_spec(tmp_path / "mix.yaml", base_spec)
    mixed = _curation("mix", "--spec", str(spec), "-o", str(tmp_path / "mix"), "--seed", "7")
    assert "pt" in mixed.stdout and "en_replay" in mixed.stdout
    manifest = json.loads((tmp_path / "mix" / MANIFEST_FILE).read_text())
    assert manifest["seed"] == 7
    assert "en_replay" in (tmp_path / "mix" / SUMMARY_FILE).read_text()
    _curation("pack", "-m", str(tmp_path / "mix"), "-o", str(tmp_path / "packed"), "--executor", "local")
    info = json.loads((tmp_path / "packed" / PACK_INFO_FILE).read_text())
    assert info["manifest_fingerprint"] == manifest["fingerprint"] and info["seed"] == 7
    stats = json.loads((tmp_path / "packed" / "_run" / "stats.json").read_text())
    # tokenized once, by mix: pack finds the 16 files in the token cache and writes only its one shard
    assert stats["units"] == {"total": 16 + 1, "resumed": 16, "processed": 1, "failed": 0}
    assert stats["counters"]["sequences_per_source"] == {"pt": 469, "en_replay": 156}
