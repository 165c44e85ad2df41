"""Training checkpoints: model, optimiser, EMA, trainer state (step, data position, tokens seen, schedule) and
every rank's RNG states, under ``<output>/checkpoints/step_NNNNNNNN`` on a local disk or an object store.

Two formats, read by every strategy and world size:

* **sharded** (FSDP2 by default): ``torch.distributed.checkpoint``; each rank writes its own shards, nothing
  is gathered. With ``async_save`` the state is copied to host memory and written by a background thread
  (its collectives on a gloo group of their own) while training goes on. Loading reshards: a checkpoint
  written on 2 ranks resumes on 1, 2 or 4.
* **full** (one process, DDP): rank 0 writes whole state dicts (``model.pt``, ``optimizer.pt``, ``ema.pt``).

Commit: a checkpoint is written under a temporary name (locally ``.tmp-step_N``, renamed when complete; on
an object store, which has no rename, under its final name) and ``trainer_state.json`` is written last. Only
directories holding that file count, so a checkpoint cut short by a kill is never resumed from; a later save
removes it.
"""

from __future__ import annotations

import io as bytes_io
import os
import random
from concurrent.futures import Future
from dataclasses import dataclass
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
from curation.train.ema import EMA

if TYPE_CHECKING:
    import torch

STEP_PREFIX = CHECKPOINT_STEP_DIR.split("{", 1)[0]
TMP_PREFIX = ".tmp-"
EMA_FILE = "ema.pt"
SHARDED_METADATA_FILE = ".metadata"  # written by torch.distributed.checkpoint once every rank's shards are


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


def _save_torch(path: str, obj: Any) -> None:
    buf = bytes_io.BytesIO()
    import torch

    torch.save(obj, buf)
    io.write_bytes(path, buf.getvalue())


def _load_torch(path: str, weights_only: bool = True) -> Any:
    import torch

    return torch.load(bytes_io.BytesIO(io.read_bytes(path)), map_location="cpu", weights_only=weights_only)


def _root(root: str | os.PathLike[str]) -> str:
    root = os.fspath(root)
    return root if io.is_remote(root) else io.local_path(root)


def _entries(root: str) -> set[str]:
    """Names of the folders directly under ``root`` that hold files."""
    prefix = io.join(root, "")
    return {f[len(prefix) :].split("/", 1)[0] for f in io.find(root) if f.startswith(prefix)}


def checkpoint_dirs(root: str | os.PathLike[str]) -> list[str]:
    """Complete checkpoints under ``root`` (their state file exists), oldest first."""
    root = _root(root)
    done = {f.split("/")[-2] for f in io.find(root, CHECKPOINT_STATE_FILE)}
    return [io.join(root, name) for name in sorted(done) if name.startswith(STEP_PREFIX)]


def find_checkpoint(root: str | os.PathLike[str], step: int | None = None) -> str | None:
    """The complete checkpoint of ``step`` under ``root`` (default: the latest); None if there is none."""
    dirs = checkpoint_dirs(root)
    if step is not None:
        dirs = [d for d in dirs if d.endswith("/" + CHECKPOINT_STEP_DIR.format(step=step))]
    return dirs[-1] if dirs else None


def read_state(path: str) -> dict[str, Any]:
    """The trainer state of a complete checkpoint."""
    return io.read_json(io.join(path, CHECKPOINT_STATE_FILE))


def _dcp() -> Any:
    """``torch.distributed.checkpoint``, quiet about running in one process (which we ask for)."""
    import warnings

    import torch.distributed.checkpoint as dcp

    warnings.filterwarnings("ignore", message="torch.distributed is disabled, unavailable or uninitialized")
    return dcp


def _sharded_options() -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=False)


def _full_options(**kwargs: Any) -> Any:
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(full_state_dict=True, **kwargs)


def _fs_options(path: str) -> dict[str, Any]:
    return io.storage_options().get(io.protocol(path), {}) if io.is_remote(path) else {}


def _writer(path: str) -> Any:
    if io.is_remote(path):
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecWriter

        return FsspecWriter(path, **_fs_options(path))
    from torch.distributed.checkpoint import FileSystemWriter

    return FileSystemWriter(io.local_path(path))


def _reader(path: str) -> Any:
    if io.is_remote(path):
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader

        return FsspecReader(path, **_fs_options(path))
    from torch.distributed.checkpoint import FileSystemReader

    return FileSystemReader(io.local_path(path))


def _live_state(
    model: torch.nn.Module, optimizer: torch.optim.Optimizer | None, ema: EMA | None
) -> dict[str, Any]:
    """This rank's (sharded under FSDP2) model, optimiser and EMA tensors, keyed by parameter name."""
    from torch.distributed.checkpoint.state_dict import get_model_state_dict, get_state_dict

    if optimizer is None:
        state: dict[str, Any] = {"model": get_model_state_dict(model, options=_sharded_options())}
    else:
        model_sd, optim_sd = get_state_dict(model, optimizer, options=_sharded_options())
        state = {"model": model_sd, "optimizer": optim_sd}
    if ema is not None:
        state["ema"] = ema.state_dict()
    return state


@dataclass
class _Pending:
    """A checkpoint written but not committed yet (an async save in flight, or the commit still to do)."""

    staging: str
    final: str
    state: dict[str, Any]
    future: Future | None = None


class Checkpointer:
    """Writes checkpoints under ``root``, one at a time, keeping the newest ``keep_last`` complete ones.

    Every rank calls :meth:`save`, :meth:`poll` (each step) and :meth:`wait` (before exit, export or the
    next save) at the same points."""

    def __init__(self, root: str, ctx: DistContext, sharded: bool, keep_last: int, async_save: bool) -> None:
        self.root, self.ctx, self.sharded, self.keep_last = _root(root), ctx, sharded, keep_last
        self.async_save = sharded and async_save
        self.group = None
        if self.async_save and ctx.distributed:
            import torch.distributed as tdist

            # the background writer's collectives must not interleave with the training ones
            self.group = tdist.new_group(backend="gloo")
        self.pending: _Pending | None = None

    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        ema: EMA | None,
        state: dict[str, Any],
    ) -> str:
        """Write checkpoint ``step`` (committed before this returns unless it is saved asynchronously)."""
        dcp = _dcp()
        self.wait()
        final = io.join(self.root, CHECKPOINT_STEP_DIR.format(step=step))
        staging = final if io.is_remote(final) else io.join(self.root, f"{TMP_PREFIX}{final.split('/')[-1]}")
        if self.ctx.is_main:
            io.remove_tree(staging)  # what a killed save of this step left
            io.makedirs(staging)
        self.ctx.barrier()
        _save_torch(io.join(staging, CHECKPOINT_RNG_FILE.format(rank=self.ctx.rank)), rng_state())
        state = {**state, "format": "sharded" if self.sharded else "full", "ema": ema is not None}
        self.pending = _Pending(staging, final, state)
        if self.sharded:
            live = _live_state(model, optimizer, ema)
            kwargs = {"storage_writer": _writer(staging), "no_dist": not self.ctx.distributed}
            if self.async_save:
                self.pending.future = dcp.async_save(live, process_group=self.group, **kwargs)
                return final
            dcp.save(live, **kwargs)
        else:
            self._save_full(staging, model, optimizer, ema)
        self.wait()
        return final

    def _save_full(
        self, staging: str, model: torch.nn.Module, optimizer: torch.optim.Optimizer, ema: EMA | None
    ) -> None:
        from torch.distributed.checkpoint.state_dict import get_state_dict

        model_sd, optim_sd = get_state_dict(model, optimizer, options=_full_options(cpu_offload=True))
        ema_sd = ema.state_dict(full=True) if ema is not None else None
        if self.ctx.is_main:
            _save_torch(io.join(staging, CHECKPOINT_MODEL_FILE), model_sd)
            _save_torch(io.join(staging, CHECKPOINT_OPTIMIZER_FILE), optim_sd)
            if ema_sd is not None:
                _save_torch(io.join(staging, EMA_FILE), ema_sd)

    def poll(self) -> None:
        """Commit an async save that has finished, without waiting for one that has not (rank 0 commits: its
        save ends after every rank's shards are written; the others only take note)."""
        p = self.pending
        if p is not None and p.future is not None and p.future.done():
            p.future.result()  # raises what the writer raised
            if self.ctx.is_main:
                self._commit(p)
            self.pending = None

    def wait(self) -> None:
        """Finish the checkpoint in flight, if any, and commit it; every rank returns after the commit (and
        passes the same barriers whether or not :meth:`poll` already took its save)."""
        p, self.pending = self.pending, None
        if p is not None and p.future is not None:
            p.future.result()
        self.ctx.barrier()  # every rank's files are written
        if p is not None and self.ctx.is_main:
            self._commit(p)
        self.ctx.barrier()

    def _commit(self, p: _Pending) -> None:
        io.write_json(io.join(p.staging, CHECKPOINT_STATE_FILE), p.state)  # the completion marker, last
        if p.staging != p.final:
            io.remove_tree(p.final)
            os.replace(io.local_path(p.staging), io.local_path(p.final))
        complete = checkpoint_dirs(self.root)
        stale = set(complete[: -self.keep_last]) | {
            io.join(self.root, name)
            for name in _entries(self.root)
            if io.join(self.root, name) not in complete
        }
        for path in stale:
            io.remove_tree(path)


def load_checkpoint(
    path: str,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    ema: EMA | None,
    ctx: DistContext,
) -> dict[str, Any]:
    """Restore model, optimiser (unless None), EMA (unless None) and this rank's RNG from a checkpoint of
    either format, whatever the world size it was written on; returns the trainer state.

    An EMA asked for but absent from the checkpoint starts at the loaded weights."""
    from torch.distributed.checkpoint.state_dict import set_model_state_dict, set_state_dict

    state = read_state(path)
    ema_saved = ema is not None and state.get("ema", False)
    if io.exists(io.join(path, SHARDED_METADATA_FILE)):
        dcp = _dcp()
        live = _live_state(model, optimizer, ema if ema_saved else None)
        dcp.load(live, storage_reader=_reader(path), no_dist=not ctx.distributed)  # into the live tensors
        model_sd, optim_sd = live["model"], live.get("optimizer")
        options = _sharded_options()
    else:
        model_sd = _load_torch(io.join(path, CHECKPOINT_MODEL_FILE))
        optim_sd = _load_torch(io.join(path, CHECKPOINT_OPTIMIZER_FILE)) if optimizer is not None else None
        if ema_saved:
            assert ema is not None
            ema.load_full(_load_torch(io.join(path, EMA_FILE)))
        options = _full_options()
    if optimizer is None:
        set_model_state_dict(model, model_sd, options=options)
    else:
        set_state_dict(
            model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd, options=options
        )
    if ema is not None and not ema_saved:
        ema.reset()
    rng_path = io.join(path, CHECKPOINT_RNG_FILE.format(rank=ctx.rank))
    if io.exists(rng_path):
        set_rng_state(_load_torch(rng_path, weights_only=False))
    return state
