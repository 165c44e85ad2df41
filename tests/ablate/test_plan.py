"""`curation plan` on real text: a tiny English base model continued on Portuguese prose with English replay;
proxy runs over replay ratios at two budgets, the D-CPT-style fit, leave-one-out error, the validation run
within 2% of the prediction for both languages, the token extrapolation, the configs and the report section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from curation.ablate.law import Fit, fit, predict
from curation.ablate.plan import Plan
from curation.ablate.stage import Ablate
from curation.core.errors import CurationError
from tests.ablate.conftest import prose_inputs

BATCH = 512  # tokens per step: 8 sequences of 64
BUDGETS = [BATCH * 16, BATCH * 32]
RATIOS = [0.0, 0.25, 0.5, 0.75]
PROXY_KEYS = {"seq_len": 64, "global_batch_tokens": BATCH, "eval": {"max_bytes_per_set": 20_000}}


@pytest.fixture(scope="module")
def plan_inputs(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A BPE on training prose, the evaluation sets, and the base model: the 1m proxy trained on English."""
    root = tmp_path_factory.mktemp("plan")
    pt, en, tokenizer = prose_inputs(data_dir, root, english_works=20, examples=8)
    english = {"paths": [str(p) for p in en], "max_epochs": 8}
    Ablate.call(
        output=str(root / "base"),
        tokenizer=tokenizer,
        proxy="1m",
        tokens=BATCH * 48,
        seeds=[0],
        evalsets=str(root / "evalsets"),
        eval={"only": ["prose_en"], "max_bytes_per_set": 5_000, "curve_points": 0},
        base={"sources": {"en": english}},
        variants={"english": {}},
        executor="local",
        **{k: v for k, v in PROXY_KEYS.items() if k != "eval"},
    )
    spec = {
        "tokenizer": tokenizer,
        "proxy_model": str(root / "base" / "jobs" / "english" / "seed0" / "train" / "export"),
        "target": {"paths": [str(p) for p in pt], "max_epochs": 8},
        "replay": english,
        "target_set": "prose_pt",
        "replay_set": "prose_en",
        "evalsets": str(root / "evalsets"),
        "ratios": RATIOS,
        "tokens": BUDGETS,
        "tolerance": {"relative": 0.03},
        "full_tokens": BATCH * 256,
        "full_seq_len": 64,
        "full_batch_tokens": BATCH,
        "bootstrap": 50,
        "ablate": PROXY_KEYS,
        "executor": "local",
    }
    return {"root": root, "spec": spec}


@pytest.fixture(scope="module")
def plan(plan_inputs: dict[str, Any]) -> Path:
    out = plan_inputs["root"] / "plan"
    Plan.call(**plan_inputs["spec"], output=str(out))
    return out


def test_validation_run_is_within_two_percent_of_the_prediction(plan: Path) -> None:
    s = json.loads((plan / "plan.json").read_text())
    assert len(s["runs"]) == len(RATIOS) * len(BUDGETS)
    assert s["law"] == "dcpt"  # two budgets: the D-CPT surface
    v = s["validation"]
    assert v["ratio"] == s["recommended"]["ratio"] and v["tokens"] == max(BUDGETS)
    for lang in ("target", "replay"):
        assert abs(v["relative_error"][lang]) < 0.02, (lang, v)
    print(json.dumps({k: s[k] for k in ("reference", "recommended", "full", "validation")}, indent=1))


def test_recommendation_respects_the_english_tolerance(plan: Path) -> None:
    s = json.loads((plan / "plan.json").read_text())
    rec, ref = s["recommended"], s["reference"]
    assert rec["english_limit"] == pytest.approx(ref["replay"] * 1.03)
    law = s["fits"][s["chosen"]]["law"]["replay"]
    english = Fit(law["form"], np.array(list(law["params"].values())), law["token_unit"])
    assert rec["feasible"]
    assert english(max(BUDGETS), rec["ratio"]) <= rec["english_limit"]
    if rec["ratio"] > min(RATIOS):  # the smallest such ratio: a little less replay breaks the tolerance
        assert english(max(BUDGETS), rec["ratio"] - 0.001) > rec["english_limit"]
    lo, hi = rec["ratio_interval"]
    assert lo <= hi and min(RATIOS) <= lo and hi <= max(RATIOS)
    for lang in ("target", "replay"):
        loo = s["fits"][s["chosen"]]["leave_one_out"][lang]
        assert len(loo["relative_errors"]) == len(s["runs"]) and loo["mean_abs"] < 0.05


def test_extrapolation_and_ready_configs(plan: Path, plan_inputs: dict[str, Any]) -> None:
    from curation.mixer.spec import MixSpec
    from curation.train.config import TrainConfig

    s = json.loads((plan / "plan.json").read_text())
    full = s["full"]
    assert full["tokens"] == BATCH * 256 and full["extrapolation"] == pytest.approx(256 / 32)
    mix = yaml.safe_load((plan / "mix.yaml").read_text())
    MixSpec.model_validate(mix)
    weights = {name: src["weight"] for name, src in mix["sources"].items()}
    assert weights.get("replay", 0.0) == pytest.approx(full["ratio"], abs=1e-6)
    assert sum(weights.values()) == pytest.approx(1.0)
    train = yaml.safe_load((plan / "train.yaml").read_text())
    TrainConfig.model_validate(train)
    assert train["model"]["name_or_path"] == plan_inputs["spec"]["proxy_model"]
    assert train["schedule"]["lr"] == s["lr"] and train["max_steps"] == 256
    assert (plan / "_run" / "plan.png").stat().st_size > 10_000


def test_report_section(plan: Path) -> None:
    from curation.report.stage import Report

    Report.call(run_dir=str(plan), output=str(plan / "report"))
    html = (plan / "report" / "report.html").read_text()
    assert "Mixture plan" in html and "recommended replay ratio" in html and "validation run" in html
    assert "replay-0.250" not in html  # the nested ablations are summarised by the plan, not listed


def test_fit_recovers_a_known_law() -> None:
    """The fitter finds a D-CPT surface it is given back (no noise), and predicts off the design."""
    truth = np.array([1.2, 0.4, 0.5, 0.3, 0.35, 0.6, 0.05])
    d = np.repeat([0.25, 0.5, 1.0], 5)
    s = np.tile([0.0, 0.2, 0.4, 0.6, 0.8], 3)
    y = predict("dcpt", truth, d, s)
    f = fit(d * 1000, s, y, "dcpt")
    grid = np.linspace(0, 1, 11)
    assert np.allclose(
        f(np.full(11, 2000.0), grid), predict("dcpt", truth, np.full(11, 2.0), grid), rtol=0.01
    )


def test_spec_errors(plan_inputs: dict[str, Any], tmp_path: Path) -> None:
    spec = {**plan_inputs["spec"], "output": str(tmp_path / "p")}
    with pytest.raises(CurationError, match="exactly one of relative or absolute"):
        Plan.call(**{**spec, "tolerance": {"relative": 0.1, "absolute": 0.1}})
    with pytest.raises(CurationError, match="distinct replay ratios between 0 and 1"):
        Plan.call(**{**spec, "ratios": [0.0, 0.5, 1.5]})
