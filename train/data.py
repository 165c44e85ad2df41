"""The training stream over packed data: micro-batches for this rank, positioned by optimiser step.

Global sequence ``start + j * world_size + rank`` goes to rank ``rank`` (``PackedDataset.shard``), so
ranks read disjoint sequences and the data position after ``step`` steps is ``step * sequences_per_step``
within the epoch: resuming is a seek, not a replay. An epoch ends at the last whole global batch; the
remainder is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from curation.core import io
from curation.core.errors import CurationError
from curation.train.distributed import DistContext

if TYPE_CHECKING:
    import torch

    from curation.mixer.dataset import PackedDataset


def open_packed(path: str) -> PackedDataset:
    """The packed dataset at ``path`` (a `curation pack` output, local or on object storage, where it is
    mirrored to a local cache once: training memory-maps it); a one-line error when it is missing."""
    from curation.mixer.dataset import PackedDataset

    if not io.is_dir(path):
        raise CurationError(f"packed data not found: {path} (run `curation pack` first)")
    try:
        ds = PackedDataset(io.local_mirror(path))
    except FileNotFoundError as exc:
        raise CurationError(f"packed data incomplete in {path}: {exc.filename or exc}") from None
    if len(ds) == 0:
        raise CurationError(f"packed data holds no sequences: {path}")
    return ds


class DataStream:
    """Endless micro-batches for one rank, starting at a given optimiser step."""

    def __init__(
        self,
        ds: PackedDataset,
        ctx: DistContext,
        micro_batch_size: int,
        accumulation_steps: int,
        num_workers: int = 0,
    ) -> None:
        self.ds = ds
        self.ctx = ctx
        self.micro_batch_size = micro_batch_size
        self.sequences_per_step = micro_batch_size * accumulation_steps * ctx.world_size
        self.steps_per_epoch = len(ds) // self.sequences_per_step
        self.num_workers = num_workers
        if self.steps_per_epoch == 0:
            raise CurationError(
                f"packed data has {len(ds)} sequences, "
                f"fewer than one global batch of {self.sequences_per_step}"
            )

    def position(self, step: int) -> dict[str, int]:
        """Where the data stands after ``step`` optimiser steps: epoch and global sequence index in it."""
        epoch, step_in_epoch = divmod(step, self.steps_per_epoch)
        return {"epoch": epoch, "data_position": step_in_epoch * self.sequences_per_step}

    def micro_batches(self, step: int) -> Iterator[dict[str, torch.Tensor]]:
        """Micro-batches from the position after ``step`` steps on, for ever (epoch after epoch)."""
        from torch.utils.data import DataLoader, Subset

        start = self.position(step)["data_position"]
        epoch_end = self.steps_per_epoch * self.sequences_per_step
        while True:
            view = self.ds.shard(self.ctx.rank, self.ctx.world_size, start=start)
            items = (epoch_end - start) // self.ctx.world_size
            loader: Any = DataLoader(
                Subset(view, range(items)),
                batch_size=self.micro_batch_size,
                shuffle=False,
                num_workers=self.num_workers,
            )
            yield from loader
            start = 0
