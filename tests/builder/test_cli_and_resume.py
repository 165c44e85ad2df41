"""CLI behaviour: one-line errors, config files, listings, resumable runs, the Ray executor."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest
import yaml

from curation.core.schema import ID

from .conftest import build, read_docs, run_cli, stats_of

SMALL = (
    "dolma-wget-sample-0000.warc.gz",
    "dolma-wget-sample-0001.warc.gz",
    "warcio-example.warc.gz",
    "resiliparse-clipped.warc.gz",
)


def test_missing_input_is_a_one_line_error(tmp_path: Path) -> None:
    res = run_cli(
        "build",
        "--lang",
        "en",
        "--input",
        str(tmp_path / "nope.warc.gz"),
        "--output",
        str(tmp_path / "o"),
        "--executor",
        "local",
    )
    assert isinstance(res.exception, Exception) and "input not found" in str(res.exception)
    assert "nope.warc.gz" in str(res.exception)


def test_errors_exit_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    import subprocess
    import sys

    cfg = tmp_path / "corpus.yaml"
    cfg.write_text(yaml.safe_dump({"lang": ["pt"], "input": ["x"], "output": "o", "shard_max_dox": 3}))
    proc = subprocess.run(
        [sys.executable, "-m", "curation.cli", "build", "--config", str(cfg)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "shard_max_dox" in lines[0], proc.stderr

    cfg.write_text(
        yaml.safe_dump(
            {
                "lang": ["pt"],
                "input": [str(tmp_path)],
                "output": str(tmp_path / "o"),
                "presets": {"pt": {"fineweb": {"max_newline_ratio": "lots"}}},
            }
        )
    )
    proc = subprocess.run(
        [sys.executable, "-m", "curation.cli", "build", "--config", str(cfg)], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "presets.pt.fineweb.max_newline_ratio" in proc.stderr, proc.stderr


def test_config_file_and_flags_merge(tmp_path: Path, warc_dir: Path) -> None:
    cfg = tmp_path / "corpus.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "lang": "en",
                "input": [str(warc_dir / SMALL[0])],
                "output": str(tmp_path / "a"),
                "executor": "local",
                "presets": {"en": {"gopher_quality": {"min_doc_words": 10_000}}},
            }
        )
    )
    res = run_cli("build", "--config", str(cfg), "--output", str(tmp_path / "b"))
    assert res.exit_code == 0, res.output
    saved = yaml.safe_load((tmp_path / "b" / "_run" / "config.yaml").read_text())["config"]
    assert saved["output"] == str(tmp_path / "b") and saved["lang"] == ["en"]
    stats = stats_of(tmp_path / "b")
    assert stats["stages"]["gopher_quality"]["dropped"]["gopher_short_doc"] >= 1  # the override took effect
    assert not (tmp_path / "a").exists()


def test_warc_paths_listing_expands_against_base_url(tmp_path: Path, warc_dir: Path) -> None:
    listing = tmp_path / "warc.paths.gz"
    listing.write_bytes(gzip.compress("".join(f"crawl-data/x/{n}\n" for n in SMALL).encode()))
    base = tmp_path / "mirror"
    (base / "crawl-data" / "x").mkdir(parents=True)
    for name in SMALL:
        shutil.copy(warc_dir / name, base / "crawl-data" / "x" / name)
    res = run_cli(
        "build",
        "--lang",
        "en",
        "--input",
        str(listing),
        "--cc-base-url",
        f"file://{base}",
        "--limit",
        "2",
        "--output",
        str(tmp_path / "o"),
        "--executor",
        "local",
    )
    assert res.exit_code == 0, res.output
    stats = stats_of(tmp_path / "o")
    assert stats["summary"]["inputs"] == 2
    assert stats["stages"]["warc"]["out"] == 22 + 15


def test_rerun_after_a_kill_has_no_duplicates_or_gaps(tmp_path: Path, warc_dir: Path) -> None:
    inputs = [str(warc_dir / n) for n in SMALL]
    clean = tmp_path / "clean"
    build(clean, inputs)
    expected = read_docs(clean, "en")[ID].sort().to_list()
    assert expected

    out = tmp_path / "killed"
    build(out, inputs)
    # Simulate a kill after one input's shard was renamed into place but before its completion record,
    # plus a stale temp file from an interrupted write.
    records = sorted((out / "_run" / "done" / "build").glob("*.json"))
    records[0].unlink()
    (out / "en" / ".x.parquet.tmp-dead").write_bytes(b"partial")
    stats = build(out, inputs)
    assert stats["units"] == {"total": 4, "resumed": 3, "processed": 1, "failed": 0}
    assert read_docs(out, "en")[ID].sort().to_list() == expected
    assert not list(out.rglob("*.tmp-*"))
    again = build(out, inputs)
    assert again["units"]["processed"] == 0 and again["units"]["resumed"] == 4
    assert again["stages"] == stats["stages"]


def test_a_changed_config_starts_over(tmp_path: Path, warc_dir: Path) -> None:
    """Completion records of a run with other settings are not reused: the outputs would mix both."""
    inputs = [str(warc_dir / n) for n in SMALL[:2]]
    build(tmp_path, inputs)
    again = build(tmp_path, inputs, workers=1)  # how to run, not what to compute: still resumes
    assert again["units"]["resumed"] == 2
    changed = build(tmp_path, inputs, presets={"en": {"gopher_quality": {"min_doc_words": 10_000}}})
    assert changed["units"]["processed"] == 2
    assert changed["summary"]["kept_documents"].get("en", 0) == 0 == len(read_docs(tmp_path, "en"))


def test_ray_executor_matches_local(tmp_path: Path, warc_dir: Path, ray_session) -> None:  # noqa: ANN001
    inputs = [str(warc_dir / n) for n in SMALL]
    build(tmp_path / "local", inputs)
    build(tmp_path / "ray", inputs, executor="ray")
    local = read_docs(tmp_path / "local", "en").sort(ID)
    on_ray = read_docs(tmp_path / "ray", "en").sort(ID)
    assert local.equals(on_ray)


@pytest.mark.parametrize("bad", ["presets", "shard_max_docs"])
def test_invalid_values_name_their_key(tmp_path: Path, bad: str) -> None:
    from curation.builder.config import BuildConfig
    from curation.core.config import validate
    from curation.core.errors import CurationError

    values = {"lang": ["pt"], "input": ["x"], "output": "o"}
    values[bad] = "many"
    with pytest.raises(CurationError, match=bad):
        validate(BuildConfig, values)


@pytest.mark.parametrize("code", ["PT", "pt-BR", "por", "pt_PT", "Por"])
def test_language_codes_are_normalised_once(code: str) -> None:
    from curation.builder.config import BuildConfig
    from curation.core.config import validate
    from curation.filters.heuristics.presets import load_preset

    cfg = validate(
        BuildConfig,
        {"lang": [code], "input": ["x"], "output": "o", "presets": {code: {"lid_threshold": 0.5}}},
    )
    assert cfg.lang == ["pt"] and list(cfg.presets) == ["pt"]
    preset = load_preset(cfg.lang[0], cfg.presets["pt"])
    assert preset.stopwords and preset.lid_threshold == 0.5  # the shipped Portuguese preset, overridden


def test_several_language_codes_and_an_unknown_one(tmp_path: Path) -> None:
    from curation.builder.config import BuildConfig
    from curation.core.config import validate
    from curation.core.errors import CurationError

    assert validate(BuildConfig, {"lang": ["pt,ES", "deu"], "input": ["x"], "output": "o"}).lang == [
        "pt",
        "es",
        "de",
    ]
    with pytest.raises(CurationError, match="unknown language code 'xx-klingon'"):
        validate(BuildConfig, {"lang": ["xx-klingon"], "input": ["x"], "output": "o"})
    res = run_cli("build", "--lang", "qqq", "-i", "x", "-o", str(tmp_path))
    assert "unknown language code 'qqq'" in str(res.exception)


def test_pt_br_keeps_the_same_documents_as_pt(tmp_path: Path, warc_dir: Path) -> None:
    """Before language codes were normalised, pt-BR dropped every page as other_language."""
    pages = [str(warc_dir / "pages-dev.warc.gz")]
    build(tmp_path / "pt", pages, "pt")
    build(tmp_path / "pt-BR", pages, "pt-BR")
    kept = read_docs(tmp_path / "pt", "pt")
    assert len(kept) > 0 and kept.sort(ID).equals(read_docs(tmp_path / "pt-BR", "pt").sort(ID))
