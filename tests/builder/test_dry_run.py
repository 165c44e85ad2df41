"""`curation build --dry-run`: the cost estimate for a listing and for an index selection (issue 13.6)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curation.builder.stage import Build
from curation.core.schema import DONE_DIR, RUN_DIR

from .conftest import run_cli


def test_dry_run_on_an_index_selection_is_exact_and_builds_nothing(tmp_path: Path, data_dir: Path) -> None:
    bench = data_dir / "bench"
    stats = Build.call(
        lang=["pt"],
        cc_index=[str(bench / "cc-index-dev.parquet")],
        index={"warc_base_url": str(bench)},
        output=str(tmp_path),
        dry_run=True,
        executor="local",
    )
    index = pq.read_table(bench / "cc-index-dev.parquet")
    chosen = index.filter(
        pc.and_(
            pc.match_substring(pc.fill_null(index["content_languages"], ""), "por"),
            pc.and_(
                pc.equal(index["fetch_status"], 200), pc.equal(index["content_mime_detected"], "text/html")
            ),
        )
    )
    targeted, full = stats["summary"]["plan"]["rows"]
    assert targeted["pages"] == chosen.num_rows == 36
    assert targeted["bytes_to_fetch"] == pc.sum(chosen["warc_record_length"]).as_py()
    assert full["bytes_to_fetch"] == sum(p.stat().st_size for p in bench.glob("*.warc.gz"))
    assert full["pages"] == index.num_rows
    rate = stats["summary"]["plan"]["assumptions"]["extract_pages_per_core_second"]
    assert targeted["core_hours"] == 36 / rate / 3600
    assert json.loads((tmp_path / RUN_DIR / "plan.json").read_text())["rows"][0] == targeted
    assert "| index targeting (selected records) | 5 |" in (tmp_path / RUN_DIR / "plan.md").read_text()
    assert not (tmp_path / "pt").exists() and not (tmp_path / RUN_DIR / DONE_DIR / "build").exists()


def test_dry_run_on_a_listing_from_the_command_line(tmp_path: Path, data_dir: Path) -> None:
    warcs = sorted(str(p) for p in (data_dir / "bench").glob("*.warc.gz"))
    res = run_cli(
        "build", "--lang", "pt", *[a for w in warcs for a in ("-i", w)], "--output", str(tmp_path),
        "--dry-run", "--plan.lang-share", "0.03", "--plan.scan-pages-per-core-second", "100",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "full scan" in res.output and "index targeting" in res.output
    full, targeted = json.loads((tmp_path / RUN_DIR / "plan.json").read_text())["rows"]
    size = sum(Path(w).stat().st_size for w in warcs)
    assert full["bytes_to_fetch"] == size and full["pages"] == pytest.approx(size * 40_000 / 1e9)
    assert full["core_hours"] == pytest.approx(full["pages"] / 100 / 3600)
    assert targeted["pages"] == pytest.approx(full["pages"] * 0.03)
    assert targeted["bytes_to_fetch"] == pytest.approx(size * 0.03)
