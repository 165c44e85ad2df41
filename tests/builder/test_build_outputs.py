"""`curation build` on the real WARCs: schema, funnel evidence, robustness to broken input."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import yaml

from curation.builder.pages import step_names
from curation.builder.stage import document_schema
from curation.core.schema import (
    CRAWL_DATE,
    DROP_REASON,
    ID,
    LANG,
    LANG_SCORE,
    N_CHARS,
    REJECTED_DIR,
    TEXT,
    URL,
    WARC_PATH,
)
from curation.filters.heuristics.gopher_quality import MEAN_WORD_LENGTH, N_WORDS

from .conftest import build, read_docs, stats_of


def test_kept_shards_have_the_documented_schema(pt_build: Path) -> None:
    files = sorted((pt_build / "pt").glob("*.parquet"))
    assert files, "no Portuguese document kept"
    meta = pq.read_metadata(files[0])
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert pq.read_schema(files[0]).equals(document_schema(), check_metadata=False)
    docs = read_docs(pt_build, "pt")
    assert (docs[LANG] == "pt").all()
    assert (docs[LANG_SCORE] >= 0.65).all()
    assert docs[ID].n_unique() == len(docs)
    for col in (URL, WARC_PATH, TEXT, CRAWL_DATE):
        assert docs[col].null_count() == 0 and (docs[col].str.len_chars() > 0).all(), col
    assert (docs[N_CHARS] == docs[TEXT].str.len_chars()).all()
    assert (docs[N_WORDS] >= 50).all()  # the Gopher minimum of the pt preset


def test_rejected_documents_keep_their_signals_and_reason(pt_build: Path) -> None:
    rejected = read_docs(pt_build, REJECTED_DIR)
    assert len(rejected) > 0
    assert rejected[DROP_REASON].null_count() == 0
    stats = stats_of(pt_build)
    heuristic_drops = sum(
        n
        for stage in ("gopher_repetition", "gopher_quality", "c4", "fineweb")
        for n in stats["stages"].get(stage, {}).get("dropped", {}).values()
    )
    low_score = stats["stages"]["language_filter"]["dropped"].get("low_lang_score", 0)
    assert len(rejected) == heuristic_drops + low_score
    assert rejected[MEAN_WORD_LENGTH].null_count() == 0


def test_stats_funnel_is_consistent(pt_build: Path) -> None:
    stats = stats_of(pt_build)
    stages = stats["stages"]
    order = step_names()
    assert list(stages) == order  # every stage saw documents, in pipeline order
    for name in order:
        st = stages[name]
        assert st["in"] == st["out"] + sum(st["dropped"].values()), name
    for upstream, downstream in zip(order, order[1:]):
        assert stages[downstream]["in"] == stages[upstream]["out"], (upstream, downstream)
    kept = len(read_docs(pt_build, "pt"))
    assert stages["fineweb"]["out"] == kept == stats["counters"]["kept_languages"]["pt"]
    assert stats["counters"]["languages_preselect"]["en"] > 50  # languages seen on every page, not only kept
    assert stats["memory"]["peak_rss_mb_per_worker"] > 0 and stats["summary"]["within_memory_limit"]
    assert (pt_build / "_run" / "funnel.png").stat().st_size > 1000
    config = yaml.safe_load((pt_build / "_run" / "config.yaml").read_text())
    assert config["command"] == "build" and config["config"]["lang"] == ["pt"]
    assert config["resolved"]["presets"]["pt"]["gopher_quality"]["max_avg_word_length"] == 12.0
    assert stats["stage"] == "build" and stats["config_fingerprint"] == config["config_fingerprint"]


def test_broken_inputs_are_counted_under_named_reasons(pt_build: Path) -> None:
    stats = stats_of(pt_build)
    warc = stats["stages"]["warc"]["dropped"]
    assert warc["truncated_record"] == 1  # resiliparse-clipped.warc.gz
    assert warc["revisit"] == 1  # warcio-example.warc.gz
    types = stats["counters"]["warc_record_types"]
    assert types["response"] >= 300 and types["request"] > 0 and types["metadata"] > 0
    assert stats["summary"]["inputs"] == 10 - 2  # the .wat/.wet files do not match *.warc.gz


def test_legacy_warc_and_encoding_is_decoded(tmp_path: Path, warc_dir: Path) -> None:
    """ClueWeb09 (WARC/0.18, EUC-JP/Shift-JIS without charset header) must give readable Japanese text."""
    stats = build(
        tmp_path,
        [str(warc_dir / "clueweb09-ja_resiliparse-clueweb-quirk.warc.gz")],
        "ja",
        keep_rejected=True,
        presets={"ja": {"gopher_repetition": {"dup_ngram_char_frac": {}, "top_ngram_char_frac": {}}}},
    )
    assert stats["stages"]["warc"]["out"] == 29
    assert stats["counters"]["languages"]["ja"] >= 20
    docs = read_docs(tmp_path, "ja").vstack(read_docs(tmp_path, REJECTED_DIR).drop(DROP_REASON))
    assert docs[TEXT].str.contains("[ぁ-んァ-ン]").sum() >= 20
    assert not docs[TEXT].str.contains("\ufffd{3}").any()
