"""Atomic training checkpoints: model, optimiser, trainer state (step, data position, tokens seen) and every
rank's RNG states, written to a temporary directory and renamed into ``checkpoints/step_NNNNNNNN``.

Model and optimiser are saved as full (unsharded) state dicts via
``torch.distributed.checkpoint.state_dict``, so a checkpoint written under DDP or FSDP2 loads on any
world size.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from curation.core import io
from curation.core.schema import (
    CHECKPOINT_MODEL_FILE,
    CHECKPOINT_OPTIMIZER_FILE,
    CHECKPOINT_RNG_FILE,
    CHECKPOINT_STATE_FILE,
    CHECKPOINT_STEP_DIR,
)
from curation.train.distributed import DistContext

if TYPE_CHECKING:
    import torch

STEP_PREFIX = CHECKPOINT_STEP_DIR.split("{", 1)[0]
TMP_PREFIX = ".tmp-"


def rng_state() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    import torch

    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _state_dict_options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def checkpoint_dirs(root: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith(STEP_PREFIX))


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    dirs = checkpoint_dirs(root)
    return dirs[-1] if dirs else None


def save_checkpoint(
    root: str | os.PathLike[str],
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    state: dict[str, Any],
    dist: DistContext,
    keep_last: int,
) -> Path:
    """Write ``step_<step>`` atomically (every rank calls this); prune to the newest ``keep_last``."""
    import torch
    from torch.distributed.checkpoint.state_dict import get_state_dict

    root = Path(root)
    final = root / CHECKPOINT_STEP_DIR.format(step=step)
    tmp = root / f"{TMP_PREFIX}{final.name}"
    model_sd, optim_sd = get_state_dict(model, optimizer, options=_state_dict_options(cpu_offload=True))
    if dist.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    dist.barrier()
    torch.save(rng_state(), tmp / CHECKPOINT_RNG_FILE.format(rank=dist.rank))
    if dist.is_main:
        torch.save(model_sd, tmp / CHECKPOINT_MODEL_FILE)
        torch.save(optim_sd, tmp / CHECKPOINT_OPTIMIZER_FILE)
        io.write_json(tmp / CHECKPOINT_STATE_FILE, state)
    dist.barrier()
    if dist.is_main:
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoint_dirs(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def load_checkpoint(
    path: str | os.PathLike[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer, dist: DistContext
) -> dict[str, Any]:
    """Restore model, optimiser and this rank's RNG from ``path``; returns the trainer state."""
    import torch
    from torch.distributed.checkpoint.state_dict import set_state_dict

    path = Path(path)
    model_sd = torch.load(path / CHECKPOINT_MODEL_FILE, map_location="cpu", weights_only=True)
    optim_sd = torch.load(path / CHECKPOINT_OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    set_state_dict(
        model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd, options=_state_dict_options()
    )
    rng_path = path / CHECKPOINT_RNG_FILE.format(rank=dist.rank)
    if rng_path.exists():
        set_rng_state(torch.load(rng_path, weights_only=False))
    return json.loads((path / CHECKPOINT_STATE_FILE).read_text())
