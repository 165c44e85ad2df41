"""`curation dedup` end to end on real documents: edge cases, keep policies, cluster sizes, resume."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import polars as pl
import pytest

from curation.core.errors import CurationError
from curation.core.schema import (
    CONFIG_FILE,
    CRAWL_DATE,
    DONE_DIR,
    DUP_CLUSTER_ID,
    DUP_CLUSTER_SIZE,
    DUP_KIND,
    DUP_SURVIVOR_ID,
    ID,
    REJECTED_DIR,
    RUN_DIR,
    STATS_FILE,
    TEXT,
    URL,
    WORK_DIR,
)
from tests.dedup.conftest import cli_args, dedup, read_output, write_shards


def _cluster(labelled: pl.DataFrame, min_size: int = 6) -> pl.DataFrame:
    """The real variants of one labelled article (texts of different extractors), distinct texts only."""
    sizes = labelled.unique(subset=["label", TEXT]).group_by("label").len().sort(["len", "label"])
    label = sizes.filter(pl.col("len") >= min_size)["label"][0]
    return labelled.filter(pl.col("label") == label).unique(subset=[TEXT], keep="first", maintain_order=True)


@pytest.mark.parametrize("verify", [False, True])
def test_empty_input(tmp_path: Path, labelled: pl.DataFrame, verify: bool) -> None:
    src = write_shards(tmp_path, labelled.head(0), n_shards=1)
    stats = dedup(src, tmp_path / "out", **{"minhash.verify": verify})
    assert stats["summary"]["docs_in"] == 0 and stats["summary"]["docs_out"] == 0
    out = pl.read_parquet(tmp_path / "out" / "part-00000.parquet")
    assert out.height == 0 and DUP_CLUSTER_ID in out.columns
    assert (tmp_path / "out" / RUN_DIR / STATS_FILE).exists()
    assert (tmp_path / "out" / RUN_DIR / CONFIG_FILE).exists()


def test_single_document(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled.head(1), n_shards=1)
    stats = dedup(src, tmp_path / "out")
    out = read_output(tmp_path / "out")
    assert out[ID].to_list() == labelled[ID].head(1).to_list()
    assert out[DUP_CLUSTER_ID][0] == out[ID][0] and out[DUP_CLUSTER_SIZE][0] == 1
    assert stats["summary"]["cluster_size_histogram"] == {"1": 1}


@pytest.mark.parametrize("exact", [True, False])
def test_all_identical(tmp_path: Path, labelled: pl.DataFrame, exact: bool) -> None:
    """One real text repeated across shards: one survivor standing for all copies (by exact or MinHash)."""
    n = 40
    docs = pl.DataFrame({ID: [f"copy-{i:03d}" for i in range(n)], TEXT: [labelled[TEXT][0]] * n})
    src = write_shards(tmp_path, docs, n_shards=3)
    stats = dedup(src, tmp_path / "out", write_removed=True, **{"exact.enabled": exact})
    out, removed = read_output(tmp_path / "out"), read_output(tmp_path / "out", removed=True)
    assert out[ID].to_list() == ["copy-000"]  # equal length: smallest id wins
    assert out[DUP_CLUSTER_SIZE].to_list() == [n]
    assert set(removed[DUP_SURVIVOR_ID]) == {"copy-000"} and removed.height == n - 1
    assert set(removed[DUP_KIND]) == {"exact" if exact else "minhash"}
    kind = stats["summary"]["kinds"]["exact" if exact else "minhash"]
    assert kind["docs_in"] == n and kind["docs_out"] == 1
    assert stats["summary"]["cluster_size_histogram"] == {str(n): 1}


def test_verify_checks_every_pair_of_a_bucket(tmp_path: Path, labelled: pl.DataFrame) -> None:
    """One LSH bucket {C, A, B} whose first document C (article A followed by another article) is below the
    threshold with both others: A and B (A with its last word changed) still merge and C stays apart. With one
    one-row band the three share the bucket at this seed; a star from C would check only C-A and C-B."""
    by_length = labelled.unique(subset=["label"], keep="first").sort(pl.col(TEXT).str.len_chars())[TEXT]
    text, other = by_length[by_length.len() // 2], by_length[by_length.len() // 2 + 1]
    edited = " ".join([*text.split()[:-1], "palavra"])
    docs = pl.DataFrame({ID: ["c", "a", "b"], TEXT: [f"{text} {other}", text, edited]})
    src = write_shards(tmp_path, docs, n_shards=1)
    overrides = {"url.enabled": False, "minhash.bands": 1, "minhash.rows": 1, "write_removed": True}
    stats = dedup(src, tmp_path / "out", **overrides)
    assert stats["summary"]["docs_out"] == 2
    assert "c" in read_output(tmp_path / "out")[ID].to_list()
    assert read_output(tmp_path / "out", removed=True)[ID].to_list() in (["a"], ["b"])


@pytest.mark.parametrize(
    "keep,column,values,best",
    [
        ("highest:edu_score", "edu_score", [1.0, 3.5, None, 3.5, 2.0, 0.5], 1),
        (
            "latest",
            CRAWL_DATE,
            [
                "2020-01-01T00:00:00Z",
                "",
                "2023-05-02T10:00:00Z",
                "2021-01-01T00:00:00Z",
                None,
                "2023-05-01T23:59:59Z",
            ],
            2,
        ),
    ],
)
def test_keep_policies(
    tmp_path: Path, labelled: pl.DataFrame, keep: str, column: str, values: list, best: int
):
    docs = _cluster(labelled).head(6).with_columns(pl.Series(column, values))
    src = write_shards(tmp_path, docs, n_shards=2)
    dedup(src, tmp_path / "out", keep=keep, write_removed=True, **{"url.enabled": False})
    out = read_output(tmp_path / "out")
    survivor = out.filter(pl.col(DUP_CLUSTER_SIZE) > 1)
    assert survivor[ID].to_list() == [docs[ID][best]]
    assert survivor[column].to_list() == [values[best]]


def test_keep_longest_and_cluster_sizes(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled, n_shards=3)
    stats = dedup(src, tmp_path / "out", write_removed=True, **{"url.enabled": False})["summary"]
    out, removed = read_output(tmp_path / "out"), read_output(tmp_path / "out", removed=True)
    assert out.height + removed.height == labelled.height
    assert set(out[ID]).isdisjoint(removed[ID])
    assert out[DUP_CLUSTER_SIZE].sum() == labelled.height  # sizes count every copy once
    assert (out[DUP_CLUSTER_ID] == out[ID]).all()
    # follow survivor links to the kept document: cluster sizes are the number of documents reaching it
    parent = dict(zip(removed[ID], removed[DUP_SURVIVOR_ID], strict=True))
    kept = set(out[ID])

    def root(doc: str) -> str:
        while doc not in kept:
            doc = parent[doc]
        return doc

    reach = pl.Series([root(d) for d in labelled[ID]]).value_counts()
    expected = dict(zip(reach[""], reach["count"], strict=True))
    assert dict(zip(out[ID], out[DUP_CLUSTER_SIZE], strict=True)) == expected
    # longest: in each MinHash cluster the survivor is at least as long as what it removed
    length = dict(zip(labelled[ID], labelled[TEXT].str.len_chars(), strict=True))
    near = removed.filter(pl.col(DUP_KIND) == "minhash")
    assert all(length[s] >= length[d] for d, s in zip(near[ID], near[DUP_SURVIVOR_ID], strict=True))
    assert stats["kinds"]["exact"]["docs_removed"] > 0 and stats["kinds"]["minhash"]["docs_removed"] > 0
    hist = {int(k): v for k, v in stats["cluster_size_histogram"].items()}
    assert sum(hist.values()) == out.height and sum(k * v for k, v in hist.items()) == labelled.height
    assert (tmp_path / "out" / RUN_DIR / "cluster_sizes.png").exists()


def test_exact_dedup_normalises_case_and_spaces(tmp_path: Path, labelled: pl.DataFrame) -> None:
    text = labelled[TEXT][0]
    docs = pl.DataFrame(
        {ID: ["a", "b", "c"], TEXT: [text, "  " + text.upper().replace(" ", "\n "), text[:-40]]}
    )
    src = write_shards(tmp_path, docs, n_shards=1)
    stats = dedup(src, tmp_path / "out", **{"minhash.enabled": False})["summary"]
    assert stats["kinds"]["exact"] == {"docs_in": 3, "docs_out": 2, "docs_removed": 1}
    assert sorted(read_output(tmp_path / "out")[ID]) == ["b", "c"]  # "b" is longer (extra whitespace)


def test_url_dedup_keeps_latest_crawl(tmp_path: Path, labelled: pl.DataFrame) -> None:
    """Different real texts under one URL (normalised: case of host, fragment, trailing slash)."""
    docs = labelled.unique(subset=["label"], keep="first", maintain_order=True).head(5)
    url = docs[URL][0]
    host_upper = url.replace("://", "://").split("/")
    variants = [
        url,
        url + "#comments",
        url.rstrip("/") + "/",
        "/".join(host_upper[:2] + [host_upper[2].upper()] + host_upper[3:]),
        None,
    ]
    dates = [
        "2021-03-01T00:00:00Z",
        "2024-06-01T00:00:00Z",
        "2019-01-01T00:00:00Z",
        "2022-01-01T00:00:00Z",
        "2025-01-01T00:00:00Z",
    ]
    docs = docs.with_columns(pl.Series(URL, variants), pl.Series(CRAWL_DATE, dates))
    src = write_shards(tmp_path, docs, n_shards=2)
    stats = dedup(src, tmp_path / "out", write_removed=True, keep="longest")["summary"]
    out = read_output(tmp_path / "out")
    assert sorted(out[ID]) == sorted([docs[ID][1], docs[ID][4]])  # latest of the URL, and the null URL
    assert stats["kinds"]["url"]["docs_removed"] == 3
    removed = read_output(tmp_path / "out", removed=True)
    assert set(removed[DUP_KIND]) == {"url"} and set(removed[DUP_SURVIVOR_ID]) == {docs[ID][1]}


def test_resume_after_stop_between_stages(tmp_path: Path, labelled: pl.DataFrame) -> None:
    """Stop after a stage, lose a later stage's outputs, rerun: the same result as one uninterrupted run."""
    src = write_shards(tmp_path, labelled, n_shards=3)
    dedup(src, tmp_path / "ref", write_removed=True)
    out = tmp_path / "out"
    partial = dedup(src, out, write_removed=True, stop_after="bands")
    assert partial["summary"]["finished"] is False and not list(out.glob("*.parquet"))
    work, done = out / RUN_DIR / WORK_DIR, out / RUN_DIR / DONE_DIR
    assert (done / "bands").is_dir() and not (done / "components_r0").exists()
    dedup(src, out, write_removed=True, stop_after="clusters", keep_work=True)
    # a killed run: the last stage half done (one shard written, its record lost), plus a stray temp file
    shutil.rmtree(done / "clusters")
    (work / "decisions" / "0" / ".x.parquet.tmp-dead").write_bytes(b"partial")
    stats = dedup(src, out, write_removed=True)
    assert stats["summary"]["finished"] is True and not work.exists()
    assert stats["units"]["resumed"] > 0 and stats["units"]["failed"] == 0
    assert len(list((done / "write").glob("*.json"))) == 3  # completion records persist after the run
    for removed in (False, True):
        a = read_output(tmp_path / "ref", removed).sort(ID)
        b = read_output(out, removed).sort(ID)
        assert a.equals(b)
    saved = json.loads((out / RUN_DIR / STATS_FILE).read_text())
    assert saved["summary"]["docs_out"] == read_output(out).height
    # an output shard lost after the finished run (its work files are gone): the rerun rebuilds it
    (out / "part-00001.parquet").unlink()
    again = dedup(src, out, write_removed=True)
    assert again["summary"]["finished"] is True and not work.exists()
    for removed in (False, True):
        assert read_output(tmp_path / "ref", removed).sort(ID).equals(read_output(out, removed).sort(ID))


def test_changed_config_restarts_work(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled.head(300), n_shards=2)
    dedup(src, tmp_path / "out", stop_after="records")
    stats = dedup(src, tmp_path / "out", **{"minhash.threshold": 0.9})
    fresh = dedup(src, tmp_path / "fresh", **{"minhash.threshold": 0.9})
    assert stats["summary"]["docs_out"] == fresh["summary"]["docs_out"]


def test_ray_matches_local(tmp_path: Path, labelled: pl.DataFrame, ray_session) -> None:
    src = write_shards(tmp_path, labelled, n_shards=4)
    local = dedup(src, tmp_path / "local", partitions=3)
    on_ray = dedup(src, tmp_path / "ray", partitions=3, executor="ray")
    assert local["summary"]["kinds"] == on_ray["summary"]["kinds"]
    assert read_output(tmp_path / "local").sort(ID).equals(read_output(tmp_path / "ray").sort(ID))


def test_user_errors(tmp_path: Path, labelled: pl.DataFrame) -> None:
    src = write_shards(tmp_path, labelled.head(5), n_shards=1)
    with pytest.raises(CurationError, match="edu_score"):
        dedup(src, tmp_path / "out", keep="highest:edu_score")
    with pytest.raises(CurationError, match="keep"):
        dedup(src, tmp_path / "out", keep="shortest")
    with pytest.raises(CurationError, match="minhash.bogus"):
        dedup(src, tmp_path / "out", **{"minhash.bogus": 1})
    with pytest.raises(CurationError, match="nothing-here"):
        dedup(tmp_path / "nothing-here", tmp_path / "out")
    with pytest.raises(CurationError, match="no dedup kind"):
        dedup(src, tmp_path / "out", **{f"{kind}.enabled": False for kind in ("exact", "url", "minhash")})


def test_resume_after_kill(tmp_path: Path, labelled: pl.DataFrame) -> None:
    """SIGKILL the command once MinHash bands are done, rerun it: same output as an uninterrupted run."""
    src = write_shards(tmp_path, labelled, n_shards=4)
    dedup(src, tmp_path / "ref", write_removed=True)
    out = tmp_path / "out"
    args = cli_args(src, out, "--write-removed")
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    bands_done = out / RUN_DIR / DONE_DIR / "bands"
    while proc.poll() is None and not bands_done.is_dir():
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / RUN_DIR / STATS_FILE).exists(), "the run finished before it could be killed"
    subprocess.run(args, check=True, capture_output=True)
    for removed in (False, True):
        assert read_output(tmp_path / "ref", removed).sort(ID).equals(read_output(out, removed).sort(ID))


def test_build_layout_keeps_language_folders(tmp_path: Path, labelled: pl.DataFrame) -> None:
    """A build output folder: language sub-folders are kept, ``rejected/`` is not read."""
    corpus = tmp_path / "corpus"
    for sub, rows in (("pt", labelled.head(30)), ("en", labelled.slice(30, 30)), (REJECTED_DIR, labelled)):
        (corpus / sub).mkdir(parents=True)
        rows.write_parquet(corpus / sub / "part-00000.parquet")
    stats = dedup(corpus, tmp_path / "out")
    assert stats["summary"]["docs_in"] == 60
    assert sorted(
        p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.parquet")
    ) == [
        "en/part-00000.parquet",
        "pt/part-00000.parquet",
    ]
