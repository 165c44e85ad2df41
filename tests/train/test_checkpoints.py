"""Crash safety of `curation train` in one process: SIGKILLed at random points and resumed, it gives the same
per-step losses and final weights as an uninterrupted run; cut-short checkpoints and metrics lines are never
taken for complete ones."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import torch

from curation.train.metrics import MetricsLog, read_metrics
from tests.train.conftest import kill_during, losses, tiny_config, train

STEPS = 24


def load(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)


def same(a: object, b: object) -> bool:
    """Nested state dicts are equal: tensors bit for bit, lists and tuples alike (a reload turns one into
    the other), other values by ``==``."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_sigkill_then_resume_is_exact(packed: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    cfg = tiny_config(
        packed, tmp_path / "straight", max_steps=STEPS, checkpoint={"every_steps": 1}, ema_decay=0.9
    )
    train(cfg)
    killed = {**cfg, "output": str(tmp_path / "killed"), "resume": True}
    rng = random.Random(14)
    first = kill_during(killed, tmp_path, at_step=rng.randint(3, 8), delay=rng.uniform(0, 0.03))
    second = kill_during(killed, tmp_path, at_step=first + rng.randint(3, 8), delay=rng.uniform(0, 0.03))
    assert 3 <= first < second < STEPS  # both kills interrupted the run
    summary = train(killed)
    assert summary["finished"] and summary["resumed_from"] is not None
    assert losses(tmp_path / "killed") == losses(tmp_path / "straight")  # exact on CPU
    a, b = (tmp_path / run / "checkpoints" / f"step_{STEPS:08d}" for run in ("straight", "killed"))
    for name in ("model.pt", "optimizer.pt", "ema.pt"):
        assert same(load(a / name), load(b / name)), name
    for export in ("export", "export_ema"):
        x, y = (load_file(tmp_path / run / export / "model.safetensors") for run in ("straight", "killed"))
        assert x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
    assert sorted(p.name for p in (tmp_path / "killed" / "checkpoints").iterdir()) == [
        f"step_{STEPS - 1:08d}",
        f"step_{STEPS:08d}",
    ]


def test_cut_short_checkpoints_are_never_resumed_and_get_removed(packed: Path, tmp_path: Path) -> None:
    cfg = tiny_config(packed, tmp_path, max_steps=8, checkpoint={"every_steps": 2, "keep_last": 3})
    train({**cfg, "stop_after_steps": 4})
    root = tmp_path / "checkpoints"
    # locally a save is written under a temporary name, renamed once complete; on an object store it is
    # written under its final name: either way, without the state file (written last) it does not count
    for partial in (".tmp-step_00000006", "step_00000006", "step_00000008"):
        shutil.copytree(root / "step_00000004", root / partial)
        (root / partial / "trainer_state.json").unlink()
    summary = train({**cfg, "resume": True})
    assert summary["resumed_from"].endswith("step_00000004") and summary["steps_run"] == 4
    assert sorted(p.name for p in root.iterdir()) == ["step_00000004", "step_00000006", "step_00000008"]
    assert all((root / p / "trainer_state.json").exists() for p in ("step_00000006", "step_00000008"))


def test_metrics_keep_the_checkpointed_steps_and_drop_a_cut_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(f'{{"step": {s}, "loss": {9 - s}}}\n' for s in range(1, 6)) + '{"step": 6, "lo')
    log = MetricsLog(str(path), resume_step=3)
    log.write({"step": 4, "loss": 0.5})
    assert [(r["step"], r["loss"]) for r in read_metrics(path)] == [(1, 8), (2, 7), (3, 6), (4, 0.5)]
