"""Data-parallel training under torchrun on CPU (gloo): 2 ranks match one process on the same global batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.train.conftest import losses, tiny_config, train


def torchrun(cfg: dict, tmp_path: Path, *flags: str) -> list[dict]:
    config = tmp_path / f"{Path(cfg['output']).name}.yaml"
    config.write_text(yaml.safe_dump(cfg))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "curation.cli",
        "train",
        "--config",
        str(config),
        *flags,
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        _, stderr = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and its workers share the new session
        raise
    assert proc.returncode == 0, stderr[-3000:]
    lines = (Path(cfg["output"]) / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def record_losses(records: list[dict]) -> list[float]:
    return [r["loss"] for r in records if "loss" in r]


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


@pytest.mark.slow
def test_fsdp2_matches_one_process(single: dict, tmp_path: Path) -> None:
    cfg = {**single["cfg"], "output": str(tmp_path / "fsdp"), "strategy": "fsdp"}
    check_matches_single(torchrun(cfg, tmp_path), tmp_path / "fsdp", single)


@pytest.mark.slow
def test_distributed_resume_is_exact(ddp_run: dict, tmp_path: Path) -> None:
    cfg = {**ddp_run["cfg"], "output": str(tmp_path / "resumed")}
    torchrun({**cfg, "stop_after_steps": 3}, tmp_path)
    records = torchrun({**cfg, "resume": True}, tmp_path)
    # bit-identical to the uninterrupted DDP run
    assert record_losses(records) == record_losses(ddp_run["records"])
