"""WSD cooldowns and the EMA of the weights: one stable run spawns several linear-decay cooldowns from its
checkpoints (``init_from``), each carrying weights, optimiser, EMA and data position on exactly; the EMA is
evaluated and exported next to the raw weights; `curation export` exports any checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from curation.core.errors import CurationError
from curation.train.metrics import read_metrics
from curation.train.schedule import ScheduleConfig, lr_at
from tests.train.conftest import losses, tiny_config, train

SCHEDULE = {"kind": "wsd", "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2, "decay_steps": 4}


def weights(output: Path, export: str = "export") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(output / export / "model.safetensors")


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def stable(packed: Path, eval_sets: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """16 WSD steps (warm-up 2, stable to step 12, linear decay over the last 4), EMA 0.8, checkpoints every
    4 steps."""
    out = tmp_path_factory.mktemp("stable")
    cfg = tiny_config(
        packed,
        out,
        max_steps=16,
        schedule=SCHEDULE,
        checkpoint={"every_steps": 4, "keep_last": 4},
        ema_decay=0.8,
        eval={"sets": eval_sets, "max_bytes_per_set": 5_000},
    )
    return {"summary": train(cfg), "cfg": cfg, "out": out}


def checkpoint(stable: dict, step: int) -> str:
    return str(stable["out"] / "checkpoints" / f"step_{step:08d}")


def test_ema_is_evaluated_and_exported(stable: dict) -> None:
    summary = stable["summary"]
    assert set(summary["eval_bpb_after_ema"]) == {"pt", "en"}
    assert summary["eval_bpb_after_ema"] != summary["eval_bpb_after"]
    evals = [r for r in read_metrics(stable["out"] / "metrics.jsonl") if "eval_bpb" in r]
    assert [sorted(r) for r in evals] == [["eval_bpb", "eval_bpb_ema", "step"]] * 2
    raw, ema = weights(stable["out"]), weights(stable["out"], "export_ema")
    assert raw.keys() == ema.keys() and not same(raw, ema)


def test_a_cooldown_from_the_last_stable_checkpoint_is_the_runs_own_decay(
    stable: dict, tmp_path: Path
) -> None:
    summary = train({**stable["cfg"], "output": str(tmp_path), "init_from": checkpoint(stable, 12)})
    assert summary["init_from"] == checkpoint(stable, 12) and summary["resumed_from"] is None
    assert summary["steps_run"] == 4 and summary["tokens_seen"] == stable["summary"]["tokens_seen"]
    assert losses(tmp_path) == losses(stable["out"])[12:]  # bit for bit
    assert same(weights(tmp_path), weights(stable["out"]))
    assert same(weights(tmp_path, "export_ema"), weights(stable["out"], "export_ema"))


def test_one_stable_run_spawns_several_cooldowns(stable: dict, tmp_path: Path) -> None:
    stable_losses = losses(stable["out"])
    for branch in (4, 8):
        out = tmp_path / f"cooldown-{branch}"
        cfg = {**stable["cfg"], "output": str(out), "init_from": checkpoint(stable, branch)}
        summary = train({**cfg, "max_steps": branch + 4})
        records = [r for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
        assert [r["step"] for r in records] == list(range(branch + 1, branch + 5))
        # linear decay from the stable LR to min_lr over the 4 cooldown steps
        expected = [lr_at(s, branch + 4, ScheduleConfig(**SCHEDULE)) for s in range(branch, branch + 4)]
        assert [r["lr"] for r in records] == expected
        assert expected[-1] == SCHEDULE["min_lr"] and expected[0] < SCHEDULE["lr"]
        assert records[0]["loss"] == stable_losses[branch]  # same weights and data at the branch point
        assert summary["eval_bpb_after_ema"] and summary["export_ema"]
    assert not same(weights(tmp_path / "cooldown-4"), weights(tmp_path / "cooldown-8"))


def test_branching_outside_the_stable_phase_is_refused(stable: dict, tmp_path: Path) -> None:
    cfg = {**stable["cfg"], "output": str(tmp_path)}
    with pytest.raises(CurationError, match="not in the stable phase"):
        train({**cfg, "init_from": checkpoint(stable, 16), "max_steps": 20})
    with pytest.raises(CurationError, match="differs from the stable LR"):
        train({**cfg, "init_from": checkpoint(stable, 8), "schedule": {**SCHEDULE, "lr": 1e-3}})
    with pytest.raises(CurationError, match="not a complete checkpoint"):
        train({**cfg, "init_from": str(tmp_path / "nothing")})


def test_export_command_exports_any_checkpoint(stable: dict, tmp_path: Path) -> None:
    from curation.train.export import Export

    Export.call(run=str(stable["out"]), output=str(tmp_path / "last"))  # the latest: step 16
    assert same(weights(tmp_path / "last"), weights(stable["out"]))
    assert same(weights(tmp_path / "last", "export_ema"), weights(stable["out"], "export_ema"))
    summary = Export.call(run=str(stable["out"]), step=8, output=str(tmp_path / "s8"))["summary"]
    assert summary["checkpoint"] == checkpoint(stable, 8) and summary["step"] == 8
    assert not same(weights(tmp_path / "s8"), weights(stable["out"]))
    with pytest.raises(CurationError, match="no complete checkpoint"):
        Export.call(run=str(stable["out"]), step=7, output=str(tmp_path / "s7"))
