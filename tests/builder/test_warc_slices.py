"""Parts of a WARC as units: splits at record boundaries and Common Crawl index targeting, each compared with a
full scan of the same real CC-MAIN-BENCH WARC (issue 13, items 3 and 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType

from curation.builder.stage import Build
from curation.core.schema import DONE_DIR, ID, RUN_DIR, WARC_PATH, WARC_RECORD_OFFSET

from .conftest import build, read_docs, stats_of
from .flaky_http import FlakyServer

LANG = "de"
WARC = "CC-MAIN-BENCH-dev-00000.warc.gz"
INDEX = "cc-index-dev.parquet"


@pytest.fixture(scope="module")
def bench(data_dir: Path) -> Path:
    return data_dir / "bench"


@pytest.fixture(scope="module")
def full_scan(tmp_path_factory: pytest.TempPathFactory, bench: Path) -> Path:
    out = tmp_path_factory.mktemp("full")
    build(out, [str(bench / WARC)], LANG, keep_rejected=True)
    return out


def _docs(out: Path) -> pl.DataFrame:
    return pl.concat([read_docs(out, LANG), read_docs(out, "rejected")], how="diagonal").sort(ID)


def _funnel(out: Path) -> tuple[dict[str, Any], dict[str, int]]:
    stats = stats_of(out)
    counts = {step: {k: v for k, v in st.items() if k != "seconds"} for step, st in stats["stages"].items()}
    return counts, stats["counters"]["warc_record_types"]


def test_next_record_start_is_the_next_non_metadata_record(bench: Path) -> None:
    from curation.builder.slices import next_record_start
    from curation.core.remote import RemoteConfig, open_raw
    from curation.core.stats import Stats

    path = bench / WARC
    with open(path, "rb") as f:
        starts = [
            (r.stream_pos, r.headers.get("WARC-Type"))
            for r in ArchiveIterator(f, record_types=WarcRecordType.any_type, parse_http=False)
        ]
    cuts = [pos for pos, kind in starts if kind != "metadata"]
    size = path.stat().st_size
    offsets = [1, *range(777_777, size, 1_234_567), cuts[40], cuts[40] + 1, size - 10]
    expected = [next((c for c in cuts if c >= offset), size) for offset in offsets]
    with open(path, "rb", buffering=0) as raw:
        assert [next_record_start(raw, o, size) for o in offsets] == expected
    remote = RemoteConfig(range_bytes=64 * 1024, retries=8, backoff_seconds=0.01)
    with FlakyServer(bench, every=3) as server:  # the same cuts through the retrying range reader
        raw, remote_size = open_raw(f"{server.url}/{WARC}", Stats(), remote)
        assert remote_size == size
        assert [next_record_start(raw, o, size) for o in offsets] == expected
        assert sum(server.failures.values()) > 0


def test_split_warc_gives_the_same_documents_and_resumes_per_range(
    tmp_path: Path, bench: Path, full_scan: Path
) -> None:
    stats = build(tmp_path, [str(bench / WARC)], LANG, keep_rejected=True, split_bytes=2_000_000)
    units = stats["units"]["total"]
    assert units == -(-(bench / WARC).stat().st_size // 2_000_000) and stats["summary"]["units"] == units
    assert _docs(tmp_path).equals(_docs(full_scan))
    assert _funnel(tmp_path) == _funnel(full_scan)  # every record read once, by one range
    # resume is per range: only the range whose completion record is gone runs again
    records = sorted((tmp_path / RUN_DIR / DONE_DIR / "build").glob("*.at*.json"))
    records[3].unlink()
    again = build(tmp_path, [str(bench / WARC)], LANG, keep_rejected=True, split_bytes=2_000_000)
    assert again["units"] == {"total": units, "resumed": units - 1, "processed": 1, "failed": 0}
    assert _docs(tmp_path).equals(_docs(full_scan))


def test_index_targeting_over_http_keeps_what_a_full_scan_keeps_of_the_selected_records(
    tmp_path: Path, bench: Path, full_scan: Path
) -> None:
    index = pq.read_table(bench / INDEX)
    (tmp_path / "index").mkdir()
    pq.write_table(index.filter(pc.equal(index["warc_filename"], WARC)), tmp_path / "index" / "part.parquet")
    remote = {"range_bytes": 256 * 1024, "retries": 8, "backoff_seconds": 0.05}
    with FlakyServer(bench, every=4) as warcs, FlakyServer(tmp_path / "index", every=10**9) as idx:
        stats = Build.call(
            lang=[LANG],
            cc_index=[f"{idx.url}/part.parquet"],
            index={"warc_base_url": warcs.url},
            output=str(tmp_path / "o"),
            executor="local",
            keep_rejected=True,
            remote=remote,
        )
        failures = dict(warcs.failures)
    selection = stats["summary"]["index"]
    assert sum(failures.values()) > 0 and sum(stats["counters"]["remote"].values()) >= failures["503"]
    # only the selected members are fetched (plus the head of the file for its warcinfo)
    assert stats["totals"]["remote_bytes"] == selection["record_bytes"] + 16 * 1024
    assert selection["record_bytes"] < 0.5 * (bench / WARC).stat().st_size
    assert stats["counters"]["warc_record_types"] == {"response": selection["records"]}
    offsets = index.filter(pc.equal(index["warc_filename"], WARC)).to_pandas()
    chosen = offsets[
        offsets.content_languages.fillna("").str.contains("deu")
        & (offsets.fetch_status == 200)
        & offsets.content_mime_detected.isin(["text/html", "application/xhtml+xml"])
    ]
    assert selection["records"] == len(chosen) > 50
    expected = _docs(full_scan).filter(pl.col(WARC_RECORD_OFFSET).is_in(chosen.warc_record_offset.tolist()))
    got = _docs(tmp_path / "o")
    assert len(got) >= 50
    assert got.drop(WARC_PATH).equals(expected.drop(WARC_PATH))
    assert got[WARC_PATH].unique().to_list() == [f"{warcs.url}/{WARC}"]


def test_index_selection_policies(bench: Path) -> None:
    from curation.builder.cc_index import select_records
    from curation.builder.config import BuildConfig

    def select(**index: Any) -> dict[str, Any]:
        cfg = BuildConfig(lang=["pt"], cc_index=[str(bench / INDEX)], output="unused", index=index)
        slices, selection = select_records(cfg)
        assert sum(len(s.records) for s in slices) == selection.records
        return selection.model_dump()

    default = select()
    with_missing = select(missing_languages=True)
    assert default["missing_language_records"] == 0 and with_missing["missing_language_records"] > 0
    assert with_missing["records"] == default["records"] + with_missing["missing_language_records"]
    # a host list keeps the hosts and everything below them (uol.com.br: several sub-domains in the index)
    assert select(hosts=["uol.com.br"])["records"] == 6
    assert select(hosts=["www.isos.com.br", "www.spartoo.pt"])["records"] == 6
    assert select(hosts=["pasouoquepasou.crtvg.es"])["records"] == 0  # Galician to CLD2: not selected for pt
    assert select(mime_detected=["application/pdf"])["records"] == 0
