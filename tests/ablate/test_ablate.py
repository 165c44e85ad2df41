"""`curation ablate` on real text: two variants x two seeds of the 1m proxy on Ray, equal tokens, paired
statistics, learning curves, the report section, resume, and spec errors."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from curation.ablate.stage import Ablate
from curation.core.errors import CurationError
from tests.ablate.conftest import prose_inputs

STEPS = 12
BATCH = 512  # tokens per step: 8 sequences of 64
ONLY = ["prose_pt", "prose_en", "lastword_pt", "continuation_en"]


@pytest.fixture(scope="module")
def inputs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A BPE on training text, the evaluation sets, and the base spec: Portuguese prose (training split)."""
    root = tmp_path_factory.mktemp("ablate-inputs")
    pt, en, tokenizer = prose_inputs(data_dir, root, english_works=10, examples=16)
    spec = {
        "tokenizer": tokenizer,
        "proxy": "1m",
        "seq_len": 64,
        "global_batch_tokens": BATCH,
        "tokens": BATCH * STEPS,
        "seeds": [0, 1],
        "evalsets": str(root / "evalsets"),
        "eval": {
            "only": ONLY,
            "max_examples": 16,
            "max_bytes_per_set": 10_000,
            "curve_points": 2,
            "curve_max_bytes": 4_000,
        },
        "base": {"sources": {"pt": {"paths": [str(p) for p in pt], "max_epochs": 2}}},
        "variants": {
            "pt": {"description": "Portuguese only"},
            "pt-en50": {
                "description": "half English",
                "sources": {"pt": {"weight": 0.5}, "en": {"paths": [str(p) for p in en], "weight": 0.5}},
            },
        },
    }
    return {"spec": spec, "root": root}


@pytest.fixture(scope="module")
def ablation(inputs: dict[str, Any]) -> Path:
    out = inputs["root"] / "ablation"
    Ablate.call(**inputs["spec"], output=str(out), executor="local")
    return out


def _stats(path: Path) -> dict[str, Any]:
    return json.loads((path / "_run" / "stats.json").read_text())


def test_jobs_train_at_equal_tokens_with_the_same_proxy(ablation: Path) -> None:
    stats = _stats(ablation)
    assert stats["units"] == {"total": 4, "resumed": 0, "processed": 4, "failed": 0}
    config = yaml.safe_load((ablation / "_run" / "config.yaml").read_text())
    plan = config["resolved"]
    assert (plan["steps"], plan["tokens_per_job"], plan["micro_batch_size"]) == (STEPS, STEPS * BATCH, 8)
    for job in sorted((ablation / "jobs").glob("*/seed*")):
        train = _stats(job / "train")["summary"]
        assert train["tokens_seen"] == STEPS * BATCH and train["params"] == plan["params"], job
        assert _stats(job / "pack")["summary"]["num_tokens"] == STEPS * BATCH
        manifest = json.loads((job / "mix" / "manifest.json").read_text())
        assert manifest["seed"] == int(job.name.removeprefix("seed"))
    en = json.loads((ablation / "jobs" / "pt-en50" / "seed0" / "pack" / "pack.json").read_text())
    assert en["tokens_per_source"] == {"pt": STEPS * BATCH // 2, "en": STEPS * BATCH // 2}


def test_results_are_paired_by_seed(ablation: Path) -> None:
    from scipy.stats import t

    summary = _stats(ablation)["summary"]
    assert json.loads((ablation / "results.json").read_text()) == summary
    evals = {
        (v, s): json.loads((ablation / "jobs" / v / f"seed{s}" / "eval" / "eval.json").read_text())
        for v in ("pt", "pt-en50")
        for s in (0, 1)
    }
    metrics = summary["metrics"]
    assert set(metrics) == {
        "bpb/prose_pt",
        "bpb/prose_en",
        "lastword_pt/acc",
        "lastword_pt/target_bpb",
        "continuation_en/acc_norm",
    }
    bpb = {k: e["bpb"]["prose_en"]["bpb"] for k, e in evals.items()}
    m = metrics["bpb/prose_en"]
    assert m["lower_is_better"] and m["variants"]["pt"]["values"] == {"0": bpb["pt", 0], "1": bpb["pt", 1]}
    assert m["variants"]["pt"]["std"] == pytest.approx(statistics.stdev([bpb["pt", 0], bpb["pt", 1]]))
    diffs = [bpb["pt-en50", s] - bpb["pt", s] for s in (0, 1)]
    half = t.ppf(0.975, 1) * statistics.stdev(diffs) / math.sqrt(2)
    d = m["vs_baseline"]["pt-en50"]
    assert d["delta"] == pytest.approx(statistics.fmean(diffs))
    assert (d["ci_low"], d["ci_high"]) == pytest.approx((d["delta"] - half, d["delta"] + half))
    # half the tokens in English: English prose is predicted better in both seeds
    assert all(x < 0 for x in diffs) and d["better"]
    table = (ablation / "results.md").read_text()
    assert "difference to pt (paired by seed, 95% CI)" in table and f"{d['delta']:+.4f}" in table


def test_learning_curves_follow_the_held_out_sets(ablation: Path) -> None:
    curves = _stats(ablation)["summary"]["curves"]
    assert set(curves) == {"prose_pt", "prose_en"}
    curve = curves["prose_pt"]["pt"]
    assert curve["tokens"] == [0, STEPS // 2 * BATCH, STEPS * BATCH]
    assert all(lo <= m <= hi for lo, m, hi in zip(curve["min"], curve["mean"], curve["max"], strict=True))
    assert curve["mean"][-1] < curve["mean"][0] - 0.5
    assert (ablation / "_run" / "learning_curves.png").stat().st_size > 10_000


def test_report_has_an_ablation_section(ablation: Path, tmp_path: Path) -> None:
    from curation.report.stage import Report

    stats = Report.call(run_dir=str(ablation), output=str(tmp_path))["summary"]
    assert stats["stage_outputs"] == 1  # the jobs' own stage outputs are summarised by the ablation
    assert "ablation" in stats["sections_rendered"]
    html = (tmp_path / "report.html").read_text()
    section = html[html.index('<section id="ablation"') :]
    section = section[: section.index("</section>")]
    delta = _stats(ablation)["summary"]["metrics"]["bpb/prose_en"]["vs_baseline"]["pt-en50"]["delta"]
    assert "pt-en50 - pt" in section and f"{delta:+.4f}" in section and "<svg" in section


def test_a_rerun_resumes_only_the_unfinished_job(ablation: Path, inputs: dict[str, Any]) -> None:
    """A job killed after training (no completion record, no evaluation) is evaluated again, not retrained."""
    before = _stats(ablation)["summary"]
    job = ablation / "jobs" / "pt-en50" / "seed1"
    metrics = (job / "train" / "metrics.jsonl").read_bytes()
    (ablation / "_run" / "done" / "jobs" / "pt-en50__seed1.json").unlink()
    for f in (job / "eval").rglob("*"):
        if f.is_file():
            f.unlink()
    stats = Ablate.call(**inputs["spec"], output=str(ablation), executor="local")
    assert stats["units"] == {"total": 4, "resumed": 3, "processed": 1, "failed": 0}
    assert (job / "train" / "metrics.jsonl").read_bytes() == metrics
    assert stats["summary"]["metrics"] == before["metrics"]


def test_a_job_whose_settings_changed_starts_over_on_ray(
    inputs: dict[str, Any], tmp_path: Path, ray_session: Any
) -> None:
    """Jobs run as Ray tasks; a changed budget makes the job start over rather than resume another run."""
    spec = {**inputs["spec"], "seeds": [3], "variants": {"pt": {}}, "workers": 1}
    spec["eval"] = {**spec["eval"], "only": ["prose_pt"], "curve_points": 0}
    Ablate.call(**{**spec, "tokens": BATCH * 2}, output=str(tmp_path))
    stats = Ablate.call(**{**spec, "tokens": BATCH * 4}, output=str(tmp_path))  # resuming would refuse
    metrics = (tmp_path / "jobs" / "pt" / "seed3" / "train" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in metrics]
    assert stats["units"]["processed"] == 1 and steps[-1] == 4 and steps.count(1) == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"baseline": "nope"}, "baseline 'nope' is not a variant"),
        ({"variants": {"a/b": {}}}, "variant name 'a/b'"),
        ({"variants": {"none": {"sources": {"pt": None}}}}, "variant 'none' has no sources left"),
        ({"variants": {"w": {"sources": {"pt": {"weight": 0.5}}}}}, "variant 'w': source weights sum to 0.5"),
        ({"evalsets": None}, "nothing to evaluate"),
        ({"proxy": "7b"}, "unknown proxy '7b'"),
        ({"tokens": 10_000_000}, "source 'pt'"),
    ],
)
def test_spec_mistakes_are_one_line_errors(
    inputs: dict[str, Any], tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    spec = {**inputs["spec"], "executor": "local", **change}
    with pytest.raises(CurationError, match=message):
        Ablate.call(**spec, output=str(tmp_path))
    assert not list(tmp_path.glob("jobs/*/*/train"))  # nothing trained
