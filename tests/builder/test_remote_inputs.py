"""Remote inputs for real: a flaky HTTP server on 127.0.0.1 and a local S3 (moto server), compared with local files."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from curation.core.schema import ID, LANG, SNAPSHOT, TEXT, URL, WARC_RECORD_OFFSET
from curation.filters.heuristics.gopher_repetition import DUP_LINE_FRAC

from .conftest import build, read_docs
from .flaky_http import FlakyServer

FILES = ("pages-dev.warc.gz", "resiliparse-clipped.warc.gz", "warcio-example.warc.gz")
COLUMNS = [ID, URL, WARC_RECORD_OFFSET, TEXT, LANG, DUP_LINE_FRAC]


def _build(out: Path, inputs: list[str], **extra: object) -> dict:
    return build(out, inputs, "de", **extra)


@pytest.fixture(scope="module")
def local_docs(tmp_path_factory: pytest.TempPathFactory, warc_dir: Path) -> pl.DataFrame:
    out = tmp_path_factory.mktemp("local")
    _build(out, [str(warc_dir / n) for n in FILES])
    docs = read_docs(out, "de").select(COLUMNS).sort(ID)
    assert len(docs) >= 10
    return docs


def test_flaky_http_gives_the_same_documents_as_local_files(
    tmp_path: Path, warc_dir: Path, local_docs: pl.DataFrame
) -> None:
    remote = {"range_bytes": 256 * 1024, "retries": 8, "backoff_seconds": 0.05}
    with FlakyServer(warc_dir, every=3) as server:
        stats = _build(tmp_path, [f"{server.url}/{n}" for n in FILES], remote=remote)
        failures = dict(server.failures)
    assert all(n > 0 for n in failures.values()), failures  # every kind of fault really happened
    assert sum(stats["counters"]["remote"].values()) >= failures["503"] + failures["reset"]
    assert read_docs(tmp_path, "de").select(COLUMNS).sort(ID).equals(local_docs)


def test_http_listing_and_exhausted_retries(tmp_path: Path, warc_dir: Path) -> None:
    from curation.core.errors import CurationError

    (tmp_path / "mirror").mkdir()
    listing = tmp_path / "mirror" / "warc.paths.gz"
    listing.write_bytes(gzip.compress(b"pages-dev.warc.gz\nmissing.warc.gz\n"))
    with FlakyServer(warc_dir, every=10**9) as server, FlakyServer(tmp_path / "mirror", every=10**9) as lst:
        with pytest.raises(CurationError, match="1 of 2 units failed"):
            _build(
                tmp_path / "o",
                [f"{lst.url}/warc.paths.gz"],
                cc_base_url=server.url,
                remote={"retries": 1, "backoff_seconds": 0.01},
            )
    stats = (tmp_path / "o" / "_run" / "stats.json").read_text()
    assert "missing.warc.gz" in stats and "input_unreadable:FileNotFoundError" in stats
    assert len(read_docs(tmp_path / "o", "de")) >= 10  # the good input is written


@pytest.mark.slow
def test_s3_with_common_crawl_layout(
    tmp_path: Path, warc_dir: Path, local_docs: pl.DataFrame, s3_server
) -> None:
    _, options, s3 = s3_server
    s3.create_bucket(Bucket="commoncrawl")
    prefix = "crawl-data/CC-MAIN-2020-34/segments/1596439738015.38/warc"
    keys = [f"{prefix}/{n}" for n in FILES]
    for key, name in zip(keys, FILES):
        s3.upload_file(str(warc_dir / name), "commoncrawl", key)
    s3.put_object(
        Bucket="commoncrawl",
        Key="crawl-data/CC-MAIN-2020-34/warc.paths.gz",
        Body=gzip.compress(("\n".join(keys) + "\n").encode()),
    )
    stats = _build(
        tmp_path,
        ["s3://commoncrawl/crawl-data/CC-MAIN-2020-34/warc.paths.gz"],
        cc_base_url="s3://commoncrawl/",
        storage_options=options,
        remote={"range_bytes": 1024 * 1024},
    )
    assert stats["summary"]["inputs"] == len(FILES)
    docs = read_docs(tmp_path, "de")
    assert docs[SNAPSHOT].unique().to_list() == ["CC-MAIN-2020-34"]
    assert docs.select(COLUMNS).sort(ID).equals(local_docs)
