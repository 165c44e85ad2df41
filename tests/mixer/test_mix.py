import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from curation.core.config import load_config, validate
from curation.core.errors import CurationError
from curation.core.schema import MANIFEST_FILE, MANIFEST_VERSION, TOKEN_CACHE_DIR
from curation.mixer.manifest import Mix, load_manifest
from curation.mixer.spec import MixSpec


def _spec(data: dict) -> MixSpec:
    """Validate a spec as `Mix.call` does (``output`` is required by the stage, not by these checks)."""
    return validate(MixSpec, {"output": "unused", **data})


def _mix(data: dict, out: Path, **keys) -> dict:
    """Run `curation mix` in-process; returns the manifest it wrote."""
    Mix.call(**data, output=str(out), **keys)
    return load_manifest(str(out))


def _one_line_error(data: dict, match: str, out: Path, **keys) -> str:
    with pytest.raises(CurationError, match=match) as exc:
        Mix.call(**data, output=str(out), **keys)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_manifest_tokens_add_up_exactly(tmp_path: Path, base_spec: dict):
    out = tmp_path / "mix"
    stats = Mix.call(**base_spec, output=str(out))
    manifest = load_manifest(str(out))
    assert json.loads((out / MANIFEST_FILE).read_text()) == manifest
    assert manifest["manifest_version"] == MANIFEST_VERSION == 2
    assert manifest["token_cache"] == str(out / TOKEN_CACHE_DIR)  # the default token cache
    assert (out / "_run" / "config.yaml").exists() and (out / "_run" / "stats.json").exists()
    assert json.loads((out / "_run" / "stats.json").read_text()) == stats
    assert stats["stage"] == "mix" and stats["units"] == {
        "total": 16,
        "resumed": 0,
        "processed": 16,
        "failed": 0,
    }
    seq_len, n = 64, 40_000 // 64
    assert manifest["num_sequences"] == n and manifest["total_tokens"] == n * seq_len
    src = manifest["sources"]
    assert sum(e["tokens"] for e in src.values()) == manifest["total_tokens"]
    assert {k: e["sequences"] for k, e in src.items()} == {"pt": 469, "en_replay": 156}  # 625 * .75 = 468.75
    for name, entry in src.items():
        assert entry["tokens"] == entry["sequences"] * seq_len
        assert abs(entry["sequences"] - n * base_spec["sources"][name]["weight"]) < 1
        assert entry["epochs"] == pytest.approx(entry["tokens"] / entry["available_tokens"], abs=1e-6)
        assert entry["rows"] == sum(f["rows"] for f in entry["files"])
        assert entry["read"] == {
            "source": name,
            "filter": None,
            "text_column": "text",
            "upweight_by": None,
            "upweight_power": 1.0,
        }
    assert src["pt"]["rows"] == 15 and src["en_replay"]["rows"] == 10
    summary = stats["summary"]
    assert (summary["num_sequences"], summary["total_tokens"], summary["files"]) == (n, n * seq_len, 16)
    for key in ("rows", "available_tokens", "tokens", "epochs"):
        assert summary[key] == {name: e[key] for name, e in src.items()}
    # the same spec elsewhere, sharing the token cache: nothing is tokenized again, the same manifest
    again = Mix.call(**base_spec, output=str(tmp_path / "again"), token_cache=str(out / TOKEN_CACHE_DIR))
    assert again["units"] == {"total": 16, "resumed": 16, "processed": 0, "failed": 0}
    assert load_manifest(str(tmp_path / "again")) == manifest
    seed1 = _mix({**base_spec, "seed": 1}, tmp_path / "seed1", token_cache=str(out / TOKEN_CACHE_DIR))
    assert seed1["fingerprint"] != manifest["fingerprint"]


def test_phases_compile_into_one_manifest(
    tmp_path: Path, base_spec: dict, scored_dir: Path, token_cache: str
):
    base_spec["sources"]["web_edu"] = {"paths": [str(scored_dir)], "filter": "edu_score >= 3", "weight": 0.0}
    base_spec["phases"] = [
        {"name": "main", "share": 0.85},
        {"name": "anneal", "share": 0.15, "weights": {"pt": 0.5, "web_edu": 0.3, "en_replay": 0.2}},
    ]
    manifest = _mix(base_spec, tmp_path, token_cache=token_cache)
    main, anneal = manifest["phases"]
    assert (main["num_sequences"], anneal["num_sequences"]) == (531, 94)
    assert main["sequences"] == {"pt": 398, "en_replay": 133, "web_edu": 0}
    assert anneal["sequences"] == {"pt": 47, "en_replay": 19, "web_edu": 28}
    for name, entry in manifest["sources"].items():
        assert entry["sequences"] == main["sequences"][name] + anneal["sequences"][name]
    edu_rows = pl.read_parquet(scored_dir).filter(pl.col("edu_score") >= 3).height
    assert manifest["sources"]["web_edu"]["rows"] == edu_rows > 0
    assert manifest["sources"]["web_edu"]["read"]["filter"] == "edu_score >= 3"


def test_short_source_is_a_one_line_error_naming_it_and_the_shortfall(
    tmp_path: Path, base_spec: dict, token_cache: str
):
    base_spec["total_tokens"] = 160_000  # en_replay needs 40k tokens, has about 25k
    base_spec["sources"]["pt"]["max_epochs"] = 2
    message = _one_line_error(base_spec, "source 'en_replay' is too small", tmp_path, token_cache=token_cache)
    assert "short by" in message and "allow_renormalize" in message


def test_renormalize_caps_short_sources_and_keeps_the_total(
    tmp_path: Path, base_spec: dict, token_cache: str
):
    base_spec.update(total_tokens=120_000, allow_renormalize=True)
    base_spec["sources"]["pt"]["max_epochs"] = 2
    manifest = _mix(base_spec, tmp_path, token_cache=token_cache)
    src = manifest["sources"]
    assert sum(e["tokens"] for e in src.values()) == manifest["total_tokens"] == 120_000 // 64 * 64
    assert src["en_replay"]["tokens"] <= src["en_replay"]["available_tokens"]
    assert src["en_replay"]["epochs"] <= 1 and src["pt"]["epochs"] <= 2
    assert src["en_replay"]["available_tokens"] - 64 < src["en_replay"]["tokens"]  # held at its cap
    assert src["en_replay"]["share"] < 0.25 and src["pt"]["share"] > 0.75


def test_upweighting_by_dup_cluster_size_is_planned_against_the_cap(
    tmp_path: Path, base_spec: dict, dup_shard: Path, token_cache: str
):
    base_spec["sources"]["en_replay"] = {
        "paths": [str(dup_shard)],
        "weight": 0.25,
        "max_epochs": 3,
        "upweight_by": "dup_cluster_size",
    }
    manifest = _mix(base_spec, tmp_path, token_cache=token_cache)
    assert manifest["sources"]["en_replay"]["read"]["upweight_by"] == "dup_cluster_size"
    assert manifest["sources"]["en_replay"]["rows"] == pl.read_parquet(dup_shard).height


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"weights": (0.6, 0.25)}, r"source weights sum to 0.85, not 1"),
        (
            {"filter": "edu_score >= 3"},
            r"unknown column 'edu_score' in source 'en_replay' file /\S+/cc_en_head-0091\.jsonl\.gz \(has: .*text",
        ),
        ({"filter": "edu_score >>= 3"}, r"invalid filter of source 'en_replay' 'edu_score >>= 3'"),
        ({"paths": ["/nonexistent/corpus/*.parquet"]}, r"source 'en_replay': input matches no file"),
    ],
)
def test_bad_specs_fail_with_one_line(tmp_path: Path, base_spec: dict, change: dict, match: str):
    if "weights" in change:
        base_spec["sources"]["pt"]["weight"], base_spec["sources"]["en_replay"]["weight"] = change["weights"]
        with pytest.raises(CurationError, match=match) as exc:
            _spec(base_spec)
        assert "\n" not in str(exc.value)
        return
    base_spec["sources"]["en_replay"].update(change)
    _one_line_error(base_spec, match, tmp_path)


def test_phase_errors(base_spec: dict):
    base_spec["phases"] = [
        {"name": "main", "share": 0.8},
        {"name": "anneal", "share": 0.1, "weights": {"pt": 1}},
    ]
    with pytest.raises(CurationError, match="phase shares sum to 0.9"):
        _spec(base_spec)
    base_spec["phases"][1].update(share=0.2, weights={"pt": 0.5, "web": 0.5})
    with pytest.raises(CurationError, match="phase 'anneal' weights name unknown source 'web'"):
        _spec(base_spec)


def test_cli_prints_one_line_and_exits_2(tmp_path: Path, base_spec: dict, write_spec):
    base_spec["sources"]["pt"]["weight"] = 0.7
    spec = write_spec(tmp_path / "mix.yaml", base_spec)
    proc = subprocess.run(
        [sys.executable, "-m", "curation.cli", "mix", "--spec", str(spec), "--output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["error: source weights sum to 0.95, not 1"]
    base_spec["sources"]["pt"]["weight"] = 0.75
    ok = write_spec(tmp_path / "ok.yaml", base_spec)
    assert load_config(MixSpec, str(ok), {"output": str(tmp_path / "out"), "seed": 3}).seed == 3  # flags win
    assert yaml.safe_load(ok.read_text())["seed"] == 0
