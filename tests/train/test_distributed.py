"""Data-parallel training under torchrun on CPU (gloo): 2 ranks match one process on the same global batch;
FSDP2 writes sharded checkpoints (each rank its own shards), survives a SIGKILL at a random point exactly, and
its checkpoints resume on another world size (1 and 4 ranks)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch

from tests.train.conftest import kill_during, losses, tiny_config, torchrun, train


def record_losses(records: list[dict]) -> list[float]:
    return [r["loss"] for r in records if "loss" in r]


def weights(output: Path, export: str = "export") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(output / export / "model.safetensors")


@pytest.fixture(scope="module")
def single(packed: Path, eval_sets: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("single")
    cfg = tiny_config(packed, out, max_steps=8, eval={"sets": eval_sets, "max_bytes_per_set": 5_000})
    return {"summary": train(cfg), "losses": losses(out), "cfg": cfg}


@pytest.fixture(scope="module")
def ddp_run(single: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted 2-rank DDP run of the same config."""
    tmp = tmp_path_factory.mktemp("ddp")
    cfg = {**single["cfg"], "output": str(tmp / "ddp"), "strategy": "ddp"}
    return {"records": torchrun(cfg, tmp), "cfg": cfg}


@pytest.fixture(scope="module")
def fsdp_run(single: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One uninterrupted 2-rank FSDP2 run of the same config, with an EMA and sharded checkpoints every 2
    steps (all kept): the reference of the kill and resharding tests below."""
    tmp = tmp_path_factory.mktemp("fsdp")
    cfg = {
        **single["cfg"],
        "output": str(tmp / "fsdp"),
        "strategy": "fsdp",
        "checkpoint": {"every_steps": 2, "keep_last": 4},
        "ema_decay": 0.9,
    }
    return {"records": torchrun(cfg, tmp), "cfg": cfg, "out": tmp / "fsdp"}


def check_matches_single(records: list[dict], output: Path, single: dict) -> None:
    """Ranks read disjoint sequences (rank r: r, r+2, ...) of the same global batches, so the averaged
    gradients, and hence the losses, equal a single process with twice the accumulation."""
    stats = json.loads((output / "_run" / "stats.json").read_text())  # written by rank 0 only
    assert stats["stage"] == "train"
    summary = stats["summary"]
    assert summary["world_size"] == 2 and summary["accumulation_steps"] == 1 and summary["rank"] == 0
    assert len(single["losses"]) == single["cfg"]["max_steps"]
    assert record_losses(records) == pytest.approx(single["losses"], abs=1e-5)
    assert summary["tokens_per_source"] == single["summary"]["tokens_per_source"]
    assert summary["eval_bpb_after"] == pytest.approx(single["summary"]["eval_bpb_after"], abs=1e-5)


def test_ddp_matches_one_process(single: dict, ddp_run: dict) -> None:
    check_matches_single(ddp_run["records"], Path(ddp_run["cfg"]["output"]), single)


def test_fsdp2_matches_one_process_and_writes_sharded_checkpoints(single: dict, fsdp_run: dict) -> None:
    out: Path = fsdp_run["out"]
    check_matches_single(fsdp_run["records"], out, single)
    last = out / "checkpoints" / "step_00000008"
    # each rank wrote its own shard; nothing was gathered into a whole state dict
    assert sorted(p.name for p in last.iterdir()) == [
        ".metadata",
        "__0_0.distcp",
        "__1_0.distcp",
        "rng_rank0.pt",
        "rng_rank1.pt",
        "trainer_state.json",
    ]
    state = json.loads((last / "trainer_state.json").read_text())
    assert state["format"] == "sharded" and state["ema"] and state["step"] == 8
    summary = json.loads((out / "_run" / "stats.json").read_text())["summary"]
    assert set(summary["eval_bpb_after_ema"]) == {"pt", "en"}
    assert summary["eval_bpb_after_ema"] != summary["eval_bpb_after"]
    ema, raw = weights(out, "export_ema"), weights(out)
    assert not torch.equal(ema["model.norm.weight"], raw["model.norm.weight"])


def test_fsdp2_sigkill_then_resume_is_exact(fsdp_run: dict, tmp_path: Path) -> None:
    """Killed (torchrun and both ranks) at a random point, with async sharded saves every step in flight,
    then resumed: the same losses and final weights, bit for bit."""
    cfg = {**fsdp_run["cfg"], "output": str(tmp_path / "killed"), "checkpoint": {"every_steps": 1}}
    rng = random.Random(2)
    died_at = kill_during(cfg, tmp_path, at_step=rng.randint(2, 5), delay=rng.uniform(0, 0.1), nproc=2)
    assert died_at < 8
    records = torchrun({**cfg, "resume": True}, tmp_path)
    assert record_losses(records) == record_losses(fsdp_run["records"])
    for export in ("export", "export_ema"):
        a, b = weights(fsdp_run["out"], export), weights(tmp_path / "killed", export)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), export
    kept = sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir())
    assert kept == ["step_00000007", "step_00000008"]  # keep_last 2; nothing a kill left behind


def resume_copy(fsdp_run: dict, output: Path, step: int) -> dict:
    """A new output holding only the reference run's sharded checkpoint of ``step``."""
    name = f"step_{step:08d}"
    shutil.copytree(fsdp_run["out"] / "checkpoints" / name, output / "checkpoints" / name)
    return {**fsdp_run["cfg"], "output": str(output), "resume": True}


def check_resharded(output: Path, fsdp_run: dict, step: int) -> None:
    resumed = losses(output)
    assert resumed[:step] == record_losses(fsdp_run["records"])[:step]  # the copied run's records
    assert resumed == pytest.approx(record_losses(fsdp_run["records"]), abs=1e-5)
    for export in ("export", "export_ema"):
        a, b = weights(fsdp_run["out"], export), weights(output, export)
        assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a), export


def test_sharded_checkpoint_resumes_in_one_process(fsdp_run: dict, tmp_path: Path) -> None:
    shutil.copy(fsdp_run["out"] / "metrics.jsonl", tmp_path / "metrics.jsonl")
    summary = train(resume_copy(fsdp_run, tmp_path, 4))
    assert summary["world_size"] == 1 and summary["accumulation_steps"] == 2  # same global batch
    check_resharded(tmp_path, fsdp_run, 4)


@pytest.mark.slow
def test_sharded_checkpoint_resumes_on_four_ranks(fsdp_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "four"
    shutil.copytree(fsdp_run["out"], out, ignore=shutil.ignore_patterns("checkpoints", "export*"))
    cfg = {**resume_copy(fsdp_run, out, 6), "micro_batch_size": 2}  # 4 ranks x 2: the same global batch
    torchrun(cfg, tmp_path, nproc=4)
    assert json.loads((out / "_run" / "stats.json").read_text())["summary"]["world_size"] == 4
    check_resharded(out, fsdp_run, 6)
